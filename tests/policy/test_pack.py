"""The pack as a whole: it builds as the CLI runs it, every policy carries its metadata, and messages stand alone."""

from __future__ import annotations

import re
import runpy
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import (
    EnforcementLevel,
    PolicyResource,
    ResourceValidationPolicy,
    Severity,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UnknownValueError, unknown_checking_proxy

from policy import guardrails
from tests.policy.builders import (
    DEPLOYMENT,
    HPA,
    HTTPROUTE,
    INGRESS,
    NETPOL,
    PDB,
    container,
    deployment,
    httproute,
    ingress,
    network_policies,
    pdb,
    urn,
)
from tests.policy.engine import Pack, Resource

ROOT = Path(__file__).resolve().parents[2]
# Documents a user of this repository does not have; a message must make sense without them.
PRIVATE_REFERENCES = re.compile(r"\bseed\b|errata|anti-pattern|\blesson\b", re.IGNORECASE)


def test_main_builds_the_pack_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """policy/__main__.py runs as the CLI runs it (the directory as a script) and only builds the pack."""
    import pulumi_policy

    built: dict[str, Any] = {}

    def fake_pack(**kwargs: Any) -> None:
        built.update(kwargs)

    monkeypatch.setattr(pulumi_policy, "PolicyPack", fake_pack)
    monkeypatch.syspath_prepend(str(ROOT / "policy"))
    runpy.run_path(str(ROOT / "policy"), run_name="__main__")
    assert built["name"] == "wal-service-guardrails"
    names = [p.name for p in built["policies"]]
    assert len(names) == len(set(names)), f"duplicate policy names: {names}"
    assert names == [p.name for p in guardrails.POLICIES], "the CLI's pack and the tested list differ"


EXPECTED_POLICIES = {
    "ingress-no-path-rewrite": "mandatory",
    "httproute-no-path-rewrite": "mandatory",
    "route-unique-host": "mandatory",
    "no-development-images": "mandatory",
    "probes-required": "mandatory",
    "startup-probe-no-initial-delay": "advisory",
    "resources-required": "mandatory",
    "pod-security-restricted": "mandatory",
    "network-policy-coverage": "mandatory",
    "no-plaintext-secrets": "mandatory",
    "service-authentication": "mandatory",
    "hpa-owns-replicas": "mandatory",
    "disruption-budget": "mandatory",
    "image-pinned-by-digest": "mandatory",
    "image-pinned-by-digest-advisory": "advisory",
}
STACK_POLICIES = {"route-unique-host", "network-policy-coverage", "hpa-owns-replicas", "disruption-budget"}


def test_every_policy_has_description_remediation_and_level() -> None:
    by_name = {p.name: p for p in guardrails.POLICIES}
    assert set(by_name) == set(EXPECTED_POLICIES)
    for name, policy in by_name.items():
        assert policy.description and policy.remediation_steps, f"{name}: description and remediation required"
        assert isinstance(policy.enforcement_level, EnforcementLevel)
        assert policy.enforcement_level.value == EXPECTED_POLICIES[name], name
        expected_class = StackValidationPolicy if name in STACK_POLICIES else ResourceValidationPolicy
        assert isinstance(policy, expected_class), f"{name} should be a {expected_class.__name__}"


def test_every_policy_has_severity_public_url_and_tags() -> None:
    for policy in guardrails.POLICIES:
        assert isinstance(policy.severity, Severity), f"{policy.name}: no severity"
        assert policy.url and re.fullmatch(r"https://[a-z0-9.-]+\.[a-z]+/\S*", policy.url), f"{policy.name}: url"
        assert policy.tags and all(re.fullmatch(r"[a-z][a-z-]*", tag) for tag in policy.tags), f"{policy.name}: tags"


def test_descriptions_stand_alone() -> None:
    for policy in guardrails.POLICIES:
        for field in (policy.description, policy.remediation_steps or ""):
            assert not PRIVATE_REFERENCES.search(field), f"{policy.name} cites a private document: {field!r}"


def test_every_topic_declares_policies_and_each_is_collected_once() -> None:
    for topic in guardrails.TOPICS:
        assert guardrails.declared_in(topic), f"{topic.__name__} declares no policy"
    assert len({id(p) for p in guardrails.POLICIES}) == len(guardrails.POLICIES) == len(EXPECTED_POLICIES)


def test_violations_stand_alone_and_link_the_policy_docs(pack: Pack) -> None:
    """One violation of every policy: each names no private document and ends with its policy's url."""
    bad = container(
        image="registry.example.com/app:latest",
        args=["--reload"],
        env=[{"name": "API_TOKEN", "value": "x"}, {"name": "AUTH", "value": "disabled"}],
        resources={},
        startupProbe={"httpGet": {"path": "/", "port": 80}, "initialDelaySeconds": 30},
        securityContext={"privileged": True},
    )
    del bad["livenessProbe"]
    rewriting_route = httproute("r", ["route.example.com"])
    rewriting_route.props["spec"]["rules"][0]["filters"] = [{"type": "URLRewrite", "urlRewrite": {}}]
    resources = [
        deployment(replicas=3, containers=[bad], stack="prod"),
        deployment("dev-app", containers=[container(image="registry.example.com/app:1.0")]),
        ingress("a", annotations={"nginx.ingress.kubernetes.io/rewrite-target": "/"}),
        ingress("b"),
        rewriting_route,
        Resource(
            HPA,
            "app-hpa",
            urn(HPA, "app-hpa"),
            {
                "metadata": {"namespace": "app"},
                "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "app"}, "minReplicas": 2},
            },
        ),
    ]
    found = pack.run(resources)
    assert {v.policy for v in found} == set(EXPECTED_POLICIES), sorted({v.policy for v in found})
    urls = {p.name: p.url for p in guardrails.POLICIES}
    for violation in found:
        assert violation.message.endswith(f" See {urls[violation.policy]}"), violation
        assert not PRIVATE_REFERENCES.search(violation.message), violation


def test_a_compliant_stack_has_no_violations(pack: Pack) -> None:
    resources = [deployment(replicas=2), *network_policies(), ingress("app"), httproute("r", ["r.example.com"]), pdb()]
    assert pack.run(resources) == []


def test_resources_without_properties_do_not_crash_the_pack() -> None:
    pack = Pack()
    bare = [Resource(t, "bare", urn(t, "bare"), {}) for t in (DEPLOYMENT, INGRESS, HTTPROUTE, NETPOL, HPA, PDB)]
    bare += [Resource("kubernetes:core/v1:ConfigMap", "cm", urn("kubernetes:core/v1:ConfigMap", "cm"), {})]
    bare += [Resource("docker:index/image:Image", "img", urn("docker:index/image:Image", "img"), {})]
    found = {v.policy for v in pack.run(bare)}
    # An empty Deployment has no containers: probes flag it. Objects without properties are what the engine hands
    # the stack checks before their cluster exists: those wait (below) instead of judging them.
    assert found == {"probes-required"}, found
    stack_policies = {p.name for p in guardrails.POLICIES if isinstance(p, StackValidationPolicy)}
    assert set(pack.not_runnable) == stack_policies


def test_a_stack_check_waits_for_objects_whose_cluster_does_not_exist_yet(stack_record: Any) -> None:
    """The first preview of a kind stack: its cluster's provider config is unknown, so the engine hands the stack
    policies every Kubernetes object with no outputs at all. Read as objects, they are a Deployment in 'default'
    without a NetworkPolicy (what `make up` on a fresh machine refused). Each stack check must instead be reported
    as not runnable during preview (pulumi-policy's UnknownValueError), and find nothing."""

    def previewed(r: dict[str, Any]) -> PolicyResource:
        props = {} if r["type"].startswith("kubernetes:") and "metadata" in r["inputs"] else r["inputs"]
        return PolicyResource(r["type"], unknown_checking_proxy(props), r["urn"], r["name"], None, None, None, [], {})  # type: ignore[arg-type]

    resources = [previewed(r) for r in stack_record("dev")["resources"] if r["custom"]]
    stack_policies = [p for p in guardrails.POLICIES if isinstance(p, StackValidationPolicy)]
    assert stack_policies
    found: list[str] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append(message)

    for policy in stack_policies:
        with pytest.raises(UnknownValueError):
            policy.validate(StackValidationArgs(resources, {}), report)
    assert found == [], f"stack checks judged objects they cannot see yet: {found}"


def test_deployed_objects_are_still_judged_by_the_stack_checks() -> None:
    """The wait above is for objects without outputs only: a stack of real objects is checked as before."""
    found = Pack().run([deployment()])
    assert any(v.policy == "network-policy-coverage" for v in found), found
