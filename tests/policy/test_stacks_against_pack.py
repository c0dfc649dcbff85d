"""Every stack as rendered passes the whole pack; breaking a rendered object makes the matching policy fire.

Each runs twice: as a preview of a new stack sees it (stack policies get inputs) and as every later
preview and up see it (stack policies get the live objects, tests/policy/deployed.py).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.policy.engine import Pack, Resource, mandatory, resources_of

SHAPES = {"new": Pack(), "deployed": Pack(deployed=True)}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_stack_passes_every_mandatory_policy(stack_record: Callable[[str], Any], stack: str, shape: str) -> None:
    resources = resources_of(stack_record(stack))
    assert any(r.resource_type == "kubernetes:apps/v1:Deployment" for r in resources), "no Deployment rendered"
    violations = mandatory(SHAPES[shape].run(resources))
    assert not violations, f"stack {stack} ({shape}):\n" + "\n".join(map(str, violations))


# --------------------------------------------------------------------------- mutations


def _one(resources: list[Resource], type_suffix: str, name_suffix: str) -> Resource:
    found = [r for r in resources if r.resource_type.endswith(type_suffix) and r.name.endswith(name_suffix)]
    assert len(found) == 1, f"expected one {type_suffix} named *{name_suffix}, got {[r.name for r in found]}"
    return found[0]


def app(resources: list[Resource]) -> dict[str, Any]:
    """The service Deployment's props (what the mutations edit)."""
    props: dict[str, Any] = _one(resources, ":Deployment", "-workload-deployment").props
    return props


def pod(resources: list[Resource]) -> dict[str, Any]:
    spec: dict[str, Any] = app(resources)["spec"]["template"]["spec"]
    return spec


def container(resources: list[Resource]) -> dict[str, Any]:
    first: dict[str, Any] = pod(resources)["containers"][0]
    return first


def _remove_dns_egress(resources: list[Resource]) -> None:
    _one(resources, ":NetworkPolicy", "-workload-allow-dns").props["spec"]["egress"] = []


def _remove_default_deny(resources: list[Resource]) -> None:
    resources.remove(_one(resources, ":NetworkPolicy", "-workload-default-deny"))


def _remove_pdb(resources: list[Resource]) -> None:
    resources.remove(_one(resources, ":PodDisruptionBudget", "-workload-pdb"))


def _duplicate_route(resources: list[Resource]) -> None:
    original = _one(resources, ":HTTPRoute", "-workload-route")
    twin = copy.deepcopy(original)
    resources.append(Resource(twin.resource_type, twin.name + "-twin", twin.urn + "-twin", twin.props))


def _rewrite_route(resources: list[Resource]) -> None:
    rule = _one(resources, ":HTTPRoute", "-workload-route").props["spec"]["rules"][0]
    rule["filters"] = [
        {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplaceFullPath", "replaceFullPath": "/"}}}
    ]


def _annotate_ingress(resources: list[Resource]) -> None:
    meta = _one(resources, ":Ingress", "-workload-ingress").props["metadata"]
    meta["annotations"] = {**(meta.get("annotations") or {}), "nginx.ingress.kubernetes.io/rewrite-target": "/$2"}


@dataclass(frozen=True)
class Mutation:
    stack: str
    change: Callable[[list[Resource]], object]
    policy: str


MUTATIONS: dict[str, Mutation] = {
    "allowPrivilegeEscalation-removed": Mutation(
        "dev", lambda rs: container(rs)["securityContext"].pop("allowPrivilegeEscalation"), "pod-security-restricted"
    ),
    "dns-egress-removed": Mutation("dev", _remove_dns_egress, "network-policy-coverage"),
    "default-deny-removed": Mutation("prod", _remove_default_deny, "network-policy-coverage"),
    "startup-probe-removed": Mutation("dev", lambda rs: container(rs).pop("startupProbe"), "probes-required"),
    "readiness-probe-removed": Mutation("prod", lambda rs: container(rs).pop("readinessProbe"), "probes-required"),
    "hostPath-volume-added": Mutation(
        "dev",
        lambda rs: pod(rs)["volumes"].append({"name": "host", "hostPath": {"path": "/var/run"}}),
        "pod-security-restricted",
    ),
    "seccomp-unconfined": Mutation(
        "staging",
        lambda rs: container(rs)["securityContext"].update(seccompProfile={"type": "Unconfined"}),
        "pod-security-restricted",
    ),
    "privileged": Mutation(
        "prod", lambda rs: container(rs)["securityContext"].update(privileged=True), "pod-security-restricted"
    ),
    "run-as-root": Mutation(
        "dev",
        lambda rs: (
            container(rs)["securityContext"].update(runAsUser=0, runAsNonRoot=False),
            pod(rs)["securityContext"].update(runAsUser=0),
        ),
        "pod-security-restricted",
    ),
    "hostNetwork": Mutation("dev", lambda rs: pod(rs).update(hostNetwork=True), "pod-security-restricted"),
    "limits-removed": Mutation("staging", lambda rs: container(rs)["resources"].pop("limits"), "resources-required"),
    "reload-args": Mutation("dev", lambda rs: container(rs).update(args=["--reload"]), "no-development-images"),
    "latest-tag": Mutation(
        "dev", lambda rs: container(rs).update(image="localhost:6000/wal-service:latest"), "no-development-images"
    ),
    "plaintext-password": Mutation(
        "prod",
        lambda rs: container(rs).setdefault("env", []).append({"name": "DATABASE_PASSWORD", "value": "hunter2"}),
        "no-plaintext-secrets",
    ),
    # A production ConfigMap told to skip the key check, in the ConfigMap or right in the pod spec.
    "auth-disabled-configmap": Mutation(
        "prod",
        lambda rs: _one(rs, ":ConfigMap", "-workload-config").props["data"].update(AUTH="disabled"),
        "service-authentication",
    ),
    "auth-disabled-env": Mutation(
        "prod",
        lambda rs: container(rs).setdefault("env", []).append({"name": "AUTH", "value": "disabled"}),
        "service-authentication",
    ),
    "replicas-with-hpa": Mutation("prod", lambda rs: app(rs)["spec"].update(replicas=5), "hpa-owns-replicas"),
    "pdb-removed": Mutation("staging", _remove_pdb, "disruption-budget"),
    "rewrite-annotation": Mutation("prod", _annotate_ingress, "ingress-no-path-rewrite"),
    "url-rewrite-filter": Mutation("dev", _rewrite_route, "httproute-no-path-rewrite"),
    "duplicate-route-host": Mutation("staging", _duplicate_route, "route-unique-host"),
    "prod-image-by-tag": Mutation(
        "prod",
        lambda rs: container(rs).update(image="registry.example.com/wal-service:1.2.3"),
        "image-pinned-by-digest",
    ),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_breaking_a_rendered_stack_fires_the_matching_policy(
    stack_record: Callable[[str], Any], case: str, shape: str
) -> None:
    mutation = MUTATIONS[case]
    resources = resources_of(stack_record(mutation.stack))
    mutation.change(resources)
    fired = {v.policy for v in mandatory(SHAPES[shape].run(resources))}
    assert mutation.policy in fired, (
        f"{case} on {mutation.stack} ({shape}): expected {mutation.policy}, got {sorted(fired)}"
    )
