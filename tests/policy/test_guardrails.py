"""Each guardrail on hand-built resources: compliant, violating, and with properties missing."""

from __future__ import annotations

import copy
import runpy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationPolicy, StackValidationPolicy

from policy import guardrails as g
from tests.policy.engine import Pack, Resource, Violation, mandatory

ROOT = Path(__file__).resolve().parents[2]
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
NETPOL = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
HPA = "kubernetes:autoscaling/v2:HorizontalPodAutoscaler"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
DIGEST = "registry.example.com/app@sha256:" + "a" * 64
LABELS = {"app.kubernetes.io/name": "app", "app.kubernetes.io/instance": "app-dev"}


def urn(type_: str, name: str, stack: str = "dev") -> str:
    return f"urn:pulumi:{stack}::wal-service::{type_}::{name}"


def probe(path: str = "/health") -> dict[str, Any]:
    return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": 2}


def container(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "name": "app",
        "image": DIGEST,
        "startupProbe": probe(),
        "readinessProbe": probe("/ready"),
        "livenessProbe": probe(),
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "1", "memory": "256Mi"}},
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
            "runAsNonRoot": True,
            "runAsUser": 10001,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    base.update(overrides)
    return base


def deployment(
    name: str = "app",
    namespace: str = "app",
    *,
    replicas: int | None = 1,
    containers: list[dict[str, Any]] | None = None,
    stack: str = "dev",
    **spec: Any,
) -> Resource:
    pod = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
        "containers": containers if containers is not None else [container()],
        **spec,
    }
    props: dict[str, Any] = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": LABELS},
        "spec": {
            "selector": {"matchLabels": LABELS},
            "template": {"metadata": {"labels": LABELS}, "spec": pod},
        },
    }
    if replicas is not None:
        props["spec"]["replicas"] = replicas
    return Resource(DEPLOYMENT, f"{name}-deployment", urn(DEPLOYMENT, f"{name}-deployment", stack), props)


def network_policies(namespace: str = "app", *, dns_ports: tuple[str, ...] = ("UDP", "TCP")) -> list[Resource]:
    deny = {
        "metadata": {"name": "default-deny", "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }
    dns = {
        "metadata": {"name": "allow-dns", "namespace": namespace},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [{"protocol": p, "port": 53} for p in dns_ports],
                }
            ],
        },
    }
    return [
        Resource(NETPOL, f"{namespace}-deny", urn(NETPOL, f"{namespace}-deny"), deny),
        Resource(NETPOL, f"{namespace}-dns", urn(NETPOL, f"{namespace}-dns"), dns),
    ]


def ingress(name: str, host: str | None = "app.example.com", annotations: dict[str, str] | None = None) -> Resource:
    rule: dict[str, Any] = {"http": {"paths": [{"path": "/", "pathType": "Prefix"}]}}
    if host is not None:
        rule["host"] = host
    props = {
        "metadata": {"name": name, "namespace": "app", "annotations": annotations or {}},
        "spec": {"rules": [rule]},
    }
    return Resource(INGRESS, name, urn(INGRESS, name), props)


def hpa(target: str = "app", minimum: int | None = 2, namespace: str = "app") -> Resource:
    spec: dict[str, Any] = {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
        "maxReplicas": 4,
    }
    if minimum is not None:
        spec["minReplicas"] = minimum
    return Resource(
        HPA, f"{target}-hpa", urn(HPA, f"{target}-hpa"), {"metadata": {"namespace": namespace}, "spec": spec}
    )


def pdb(labels: dict[str, str] | None = None, namespace: str = "app") -> Resource:
    props = {
        "metadata": {"name": "app", "namespace": namespace},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": labels if labels is not None else LABELS}},
    }
    return Resource(PDB, "app-pdb", urn(PDB, "app-pdb"), props)


def findings(check: Callable[[str, Any, g.Report], None], resource: Resource) -> list[str]:
    found: list[str] = []
    check(resource.resource_type, resource.props, found.append)
    return found


def stack_findings(check: g.StackCheck, resources: list[Resource]) -> list[tuple[str, str | None]]:
    found: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None) -> None:
        found.append((message, urn))

    check(resources, report)
    return found


def with_pod(resource: Resource, mutate: Callable[[dict[str, Any]], object]) -> Resource:
    props = copy.deepcopy(resource.props)
    mutate(props["spec"]["template"]["spec"])
    return Resource(resource.resource_type, resource.name, resource.urn, props)


# --------------------------------------------------------------------------- the pack itself


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


EXPECTED_POLICIES = {
    "ingress-no-path-rewrite": "mandatory",
    "ingress-unique-host": "mandatory",
    "no-development-images": "mandatory",
    "probes-required": "mandatory",
    "startup-probe-no-initial-delay": "advisory",
    "resources-required": "mandatory",
    "pod-security-restricted": "mandatory",
    "network-policy-coverage": "mandatory",
    "no-plaintext-secrets": "mandatory",
    "hpa-owns-replicas": "mandatory",
    "disruption-budget": "mandatory",
    "image-pinned-by-digest": "mandatory",
    "image-pinned-by-digest-advisory": "advisory",
}
STACK_POLICIES = {"ingress-unique-host", "network-policy-coverage", "hpa-owns-replicas", "disruption-budget"}


def test_every_policy_has_description_remediation_and_level() -> None:
    by_name = {p.name: p for p in g.POLICIES}
    assert set(by_name) == set(EXPECTED_POLICIES)
    for name, policy in by_name.items():
        assert policy.description and policy.remediation_steps, f"{name}: description and remediation required"
        assert isinstance(policy.enforcement_level, EnforcementLevel)
        assert policy.enforcement_level.value == EXPECTED_POLICIES[name], name
        expected_class = StackValidationPolicy if name in STACK_POLICIES else ResourceValidationPolicy
        assert isinstance(policy, expected_class), f"{name} should be a {expected_class.__name__}"


def test_a_compliant_stack_has_no_violations(pack: Pack) -> None:
    resources = [deployment(replicas=2), *network_policies(), ingress("app"), pdb()]
    assert pack.run(resources) == []


def test_resources_without_properties_do_not_crash_the_pack(pack: Pack) -> None:
    bare = [Resource(t, "bare", urn(t, "bare"), {}) for t in (DEPLOYMENT, INGRESS, NETPOL, HPA, PDB)]
    bare += [Resource("kubernetes:core/v1:ConfigMap", "cm", urn("kubernetes:core/v1:ConfigMap", "cm"), {})]
    bare += [Resource("docker:index/image:Image", "img", urn("docker:index/image:Image", "img"), {})]
    found = {v.policy for v in pack.run(bare)}
    # An empty Deployment has no containers: probes flag it, and it has no network policy.
    assert found == {"probes-required", "network-policy-coverage"}, found


# --------------------------------------------------------------------------- ingress


def test_ingress_rewrite_annotations_are_rejected() -> None:
    assert findings(g.check_ingress_no_path_rewrite, ingress("a")) == []
    for key in g.REWRITE_ANNOTATIONS:
        found = findings(g.check_ingress_no_path_rewrite, ingress("a", annotations={key: "/$2"}))
        assert len(found) == 1 and key in found[0] and "Prefix" in found[0]


def test_ingress_regex_path_is_rejected() -> None:
    resource = ingress("a")
    resource.props["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/api(/|$)(.*)"
    assert len(findings(g.check_ingress_no_path_rewrite, resource)) == 1


def test_ingress_without_metadata_or_rules_is_fine() -> None:
    assert findings(g.check_ingress_no_path_rewrite, Resource(INGRESS, "x", urn(INGRESS, "x"), {})) == []


def test_ingress_hosts_must_be_unique() -> None:
    assert stack_findings(g.check_ingress_unique_host, [ingress("a"), ingress("b", "other.example.com")]) == []
    found = stack_findings(g.check_ingress_unique_host, [ingress("a"), ingress("b")])
    assert len(found) == 1 and found[0][1] == urn(INGRESS, "b") and "app.example.com" in found[0][0]
    # Two catch-all (host-less) rules collide as well.
    assert len(stack_findings(g.check_ingress_unique_host, [ingress("a", None), ingress("b", None)])) == 1


# --------------------------------------------------------------------------- development images


@pytest.mark.parametrize(
    "overrides",
    [
        {"args": ["--reload", "--reload-dir", "/app/src"]},
        {"command": ["npm", "run", "start:dev"]},
        {"command": ["sh", "-c", "nest start --watch"]},
        {"image": "registry.example.com/app:latest"},
        {"image": "registry.example.com/app"},
        {"image": "localhost:6000/wal-service:dev-1a2b3c"},
    ],
    ids=["reload", "start-dev", "watch-in-shell", "latest", "implicit-latest", "dev-tag"],
)
def test_development_images_are_rejected(overrides: dict[str, Any]) -> None:
    assert findings(g.check_no_development_images, deployment(containers=[container(**overrides)]))


@pytest.mark.parametrize(
    "image",
    [DIGEST, "localhost:6000/wal-service:1a2b3c", "postgres:17.6-bookworm", f"app:latest@sha256:{'b' * 64}"],
)
def test_production_images_pass(image: str) -> None:
    resource = deployment(containers=[container(image=image, command=["python", "-m", "wal_service"])])
    assert findings(g.check_no_development_images, resource) == []


def test_docker_image_development_target_is_rejected() -> None:
    image = "docker:index/image:Image"

    def build(target: str | None) -> Resource:
        props: dict[str, Any] = {"imageName": "localhost:6000/wal-service:abc", "build": {"context": "app"}}
        if target:
            props["build"]["target"] = target
        return Resource(image, "img", urn(image, "img"), props)

    assert findings(g.check_no_development_images, build("production")) == []
    assert findings(g.check_no_development_images, build(None)) == []
    assert len(findings(g.check_no_development_images, build("development"))) == 1


# --------------------------------------------------------------------------- probes and resources


@pytest.mark.parametrize("missing", ["startupProbe", "readinessProbe", "livenessProbe"])
def test_every_probe_is_required(missing: str) -> None:
    bad = container()
    del bad[missing]
    found = findings(g.check_probes_required, deployment(containers=[bad]))
    assert len(found) == 1 and missing in found[0]


def test_probes_pass_and_jobs_are_exempt() -> None:
    assert findings(g.check_probes_required, deployment()) == []
    job = "kubernetes:batch/v1:Job"
    props = {"spec": {"template": {"spec": {"containers": [{"name": "once", "image": DIGEST}]}}}}
    assert findings(g.check_probes_required, Resource(job, "j", urn(job, "j"), props)) == []


def test_startup_probe_initial_delay_is_advisory(pack: Pack) -> None:
    slow = container(startupProbe={**probe(), "initialDelaySeconds": 60})
    found = pack.run([deployment(containers=[slow]), *network_policies()])
    assert [(v.policy, v.level) for v in found] == [("startup-probe-no-initial-delay", "advisory")]
    assert findings(g.check_startup_probe_no_initial_delay, deployment()) == []


@pytest.mark.parametrize("field", ["requests.cpu", "requests.memory", "limits.cpu", "limits.memory"])
def test_requests_and_limits_are_required(field: str) -> None:
    section, name = field.split(".")
    bad = container()
    del bad["resources"][section][name]
    found = findings(g.check_resources_required, deployment(containers=[bad]))
    assert len(found) == 1 and field in found[0]


def test_resources_missing_entirely_and_on_init_containers() -> None:
    no_resources = container()
    del no_resources["resources"]
    resource = deployment(containers=[no_resources], initContainers=[{"name": "init", "image": DIGEST}])
    found = findings(g.check_resources_required, resource)
    assert len(found) == 2 and any("initContainer 'init'" in f for f in found)
    assert findings(g.check_resources_required, deployment()) == []


# --------------------------------------------------------------------------- pod security


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Mutator setting a dotted path in the pod spec ('containers.0.securityContext.privileged')."""

    def mutate(pod: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = pod
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        node[last] = value

    return mutate


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    def mutate(pod: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node: Any = pod
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        del node[last]

    return mutate


def _annotate(key: str, value: str) -> Callable[[Resource], None]:
    def mutate(resource: Resource) -> None:
        resource.props["spec"]["template"]["metadata"]["annotations"] = {key: value}

    return mutate


C0 = "containers.0.securityContext"
PSS_VIOLATIONS: dict[str, tuple[str, Callable[[dict[str, Any]], object]]] = {
    "hostProcess": ("hostProcess", _set("securityContext.windowsOptions", {"hostProcess": True})),
    "hostNetwork": ("hostNamespaces", _set("hostNetwork", True)),
    "hostPID": ("hostNamespaces", _set("hostPID", True)),
    "hostIPC": ("hostNamespaces", _set("hostIPC", True)),
    "privileged": ("privileged", _set(f"{C0}.privileged", True)),
    "add-SYS_ADMIN": ("capabilities_baseline", _set(f"{C0}.capabilities.add", ["SYS_ADMIN"])),
    "add-CHOWN": ("capabilities_restricted", _set(f"{C0}.capabilities.add", ["CHOWN"])),
    "no-drop-ALL": ("capabilities_restricted", _set(f"{C0}.capabilities", {})),
    "hostPath": ("hostPathVolumes", _set("volumes", [{"name": "h", "hostPath": {"path": "/"}}])),
    "nfs": ("restrictedVolumes", _set("volumes", [{"name": "n", "nfs": {"server": "s", "path": "/"}}])),
    "hostPort": ("hostPorts", _set("containers.0.ports", [{"containerPort": 80, "hostPort": 80}])),
    "probe-host": ("hostProbesAndHostLifecycle", _set("containers.0.livenessProbe.httpGet.host", "10.0.0.1")),
    "apparmor-pod": ("appArmorProfile", _set("securityContext.appArmorProfile", {"type": "Unconfined"})),
    "apparmor-container": ("appArmorProfile", _set(f"{C0}.appArmorProfile", {"type": "Unconfined"})),
    "selinux-type": ("seLinuxOptions", _set("securityContext.seLinuxOptions", {"type": "spc_t"})),
    "selinux-user": ("seLinuxOptions", _set(f"{C0}.seLinuxOptions", {"user": "root"})),
    "procMount": ("procMount", _set(f"{C0}.procMount", "Unmasked")),
    "seccomp-pod-unconfined": ("seccompProfile_baseline", _set("securityContext.seccompProfile.type", "Unconfined")),
    "seccomp-container-unconfined": ("seccompProfile_baseline", _set(f"{C0}.seccompProfile.type", "Unconfined")),
    "seccomp-missing": (
        "seccompProfile_restricted",
        lambda pod: (_delete("securityContext.seccompProfile")(pod), _delete(f"{C0}.seccompProfile")(pod)),
    ),
    "unsafe-sysctl": ("sysctls", _set("securityContext.sysctls", [{"name": "kernel.msgmax", "value": "1"}])),
    "allowPrivilegeEscalation-missing": ("allowPrivilegeEscalation", _delete(f"{C0}.allowPrivilegeEscalation")),
    "allowPrivilegeEscalation-true": ("allowPrivilegeEscalation", _set(f"{C0}.allowPrivilegeEscalation", True)),
    "runAsNonRoot-false": ("runAsNonRoot", _set(f"{C0}.runAsNonRoot", False)),
    "runAsNonRoot-missing": (
        "runAsNonRoot",
        lambda pod: (_delete("securityContext.runAsNonRoot")(pod), _delete(f"{C0}.runAsNonRoot")(pod)),
    ),
    "runAsUser-0": ("runAsUser", _set(f"{C0}.runAsUser", 0)),
    "ephemeral-privileged": (
        "privileged",
        _set("ephemeralContainers", [container(name="debug", securityContext={"privileged": True})]),
    ),
}


@pytest.mark.parametrize("case", sorted(PSS_VIOLATIONS))
def test_pod_security_violations_are_found(case: str) -> None:
    check_id, mutate = PSS_VIOLATIONS[case]
    found = findings(g.check_pod_security_restricted, with_pod(deployment(), mutate))
    assert any(f"/{check_id}]" in f for f in found), f"{case}: expected a {check_id} finding, got {found}"


def test_apparmor_annotation_unconfined_is_found() -> None:
    resource = deployment()
    _annotate("container.apparmor.security.beta.kubernetes.io/app", "unconfined")(resource)
    assert any("/appArmorProfile]" in f for f in findings(g.check_pod_security_restricted, resource))
    _annotate("container.apparmor.security.beta.kubernetes.io/app", "runtime/default")(resource)
    assert findings(g.check_pod_security_restricted, resource) == []


@pytest.mark.parametrize(
    "mutate",
    [
        _set(f"{C0}.capabilities.add", ["NET_BIND_SERVICE"]),
        _set("securityContext.sysctls", [{"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"}]),
        _set("volumes", [{"name": "i", "image": {"reference": DIGEST}}, {"name": "t", "emptyDir": {}}]),
        _delete(f"{C0}.seccompProfile"),  # inherited from the pod
        _set(f"{C0}.seLinuxOptions", {"type": "container_t", "level": "s0:c1,c2"}),
    ],
    ids=["net-bind-service", "safe-sysctl", "allowed-volumes", "pod-level-seccomp", "selinux-level"],
)
def test_pod_security_allows_what_restricted_allows(mutate: Callable[[dict[str, Any]], None]) -> None:
    assert findings(g.check_pod_security_restricted, with_pod(deployment(), mutate)) == []


def test_pod_without_any_security_context_fails_restricted() -> None:
    resource = deployment(containers=[{"name": "bare", "image": DIGEST}])
    del resource.props["spec"]["template"]["spec"]["securityContext"]
    ids = {f.split("]")[0].split("/")[1] for f in findings(g.check_pod_security_restricted, resource)}
    assert ids == {"allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile_restricted", "capabilities_restricted"}


# --------------------------------------------------------------------------- network policies


def test_default_deny_and_dns_pass() -> None:
    assert stack_findings(g.check_network_policy_coverage, [deployment(), *network_policies()]) == []


def test_missing_default_deny_is_found() -> None:
    found = stack_findings(g.check_network_policy_coverage, [deployment(), network_policies()[1]])
    assert len(found) == 1 and "default-deny" in found[0][0] and found[0][1] == deployment().urn


def test_ingress_only_deny_is_not_default_deny() -> None:
    deny, dns = network_policies()
    deny.props["spec"]["policyTypes"] = ["Ingress"]
    assert len(stack_findings(g.check_network_policy_coverage, [deployment(), deny, dns])) == 1


@pytest.mark.parametrize("ports", [("UDP",), ("TCP",)])
def test_dns_needs_udp_and_tcp(ports: tuple[str, ...]) -> None:
    found = stack_findings(g.check_network_policy_coverage, [deployment(), *network_policies(dns_ports=ports)])
    assert len(found) == 1 and "kube-dns" in found[0][0]


def test_dns_rule_must_reach_kube_system_and_select_the_pods() -> None:
    deny, dns = network_policies()
    wrong = copy.deepcopy(dns)
    wrong.props["spec"]["egress"][0]["to"][0]["namespaceSelector"] = {"matchLabels": {"name": "elsewhere"}}
    assert len(stack_findings(g.check_network_policy_coverage, [deployment(), deny, wrong])) == 1
    other_pods = copy.deepcopy(dns)
    other_pods.props["spec"]["podSelector"] = {"matchLabels": {"app": "other"}}
    assert len(stack_findings(g.check_network_policy_coverage, [deployment(), deny, other_pods])) == 1
    anywhere = copy.deepcopy(dns)
    del anywhere.props["spec"]["egress"][0]["to"]  # no peers: every destination, DNS included
    assert stack_findings(g.check_network_policy_coverage, [deployment(), deny, anywhere]) == []


def test_namespace_without_policies_and_workload_without_namespace() -> None:
    resource = deployment()
    del resource.props["metadata"]["namespace"]
    found = stack_findings(g.check_network_policy_coverage, [resource, *network_policies()])
    assert len(found) == 2 and "'default'" in found[0][0]


# --------------------------------------------------------------------------- credentials


@pytest.mark.parametrize("name", ["DATABASE_PASSWORD", "API_KEY", "GITHUB_TOKEN", "CLIENT_SECRET", "AWS_CREDENTIALS"])
def test_literal_credentials_are_rejected(name: str) -> None:
    bad = container(env=[{"name": name, "value": "hunter2"}])
    assert len(findings(g.check_no_plaintext_secrets, deployment(containers=[bad]))) == 1


@pytest.mark.parametrize(
    "env",
    [
        {"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
        {"name": "POSTGRES_PASSWORD_FILE", "value": "/run/secrets/password"},
        {"name": "KAFKA_ENABLED", "value": "false"},
        {"name": "MONKEY", "value": "banana"},
        {"name": "API_TOKEN"},
    ],
    ids=["secret-ref", "file", "flag", "not-a-key", "no-value"],
)
def test_non_credentials_and_secret_refs_pass(env: dict[str, Any]) -> None:
    assert findings(g.check_no_plaintext_secrets, deployment(containers=[container(env=[env])])) == []


def test_configmap_credential_keys_are_rejected() -> None:
    cm = "kubernetes:core/v1:ConfigMap"
    good = Resource(cm, "c", urn(cm, "c"), {"data": {"DATABASE_HOST": "db"}})
    bad = Resource(cm, "c", urn(cm, "c"), {"data": {"DATABASE_PASSWORD": "x"}})
    assert findings(g.check_no_plaintext_secrets, good) == []
    assert len(findings(g.check_no_plaintext_secrets, bad)) == 1


# --------------------------------------------------------------------------- scaling and disruption


def test_hpa_target_must_not_set_replicas() -> None:
    assert stack_findings(g.check_hpa_owns_replicas, [deployment(replicas=None), hpa()]) == []
    found = stack_findings(g.check_hpa_owns_replicas, [deployment(replicas=3), hpa()])
    assert len(found) == 1 and found[0][1] == deployment().urn
    # Another Deployment, another namespace, or no target at all: not this HPA's business.
    assert stack_findings(g.check_hpa_owns_replicas, [deployment(replicas=3), hpa("other")]) == []
    assert stack_findings(g.check_hpa_owns_replicas, [deployment(replicas=3), hpa(namespace="x")]) == []
    bare = Resource(HPA, "h", urn(HPA, "h"), {})
    assert stack_findings(g.check_hpa_owns_replicas, [deployment(replicas=3), bare]) == []


@pytest.mark.parametrize(
    ("resources", "violations"),
    [
        ([deployment(replicas=2)], 1),
        ([deployment(replicas=2), pdb()], 0),
        ([deployment(replicas=2), pdb({"app": "other"})], 1),
        ([deployment(replicas=2), pdb(namespace="elsewhere")], 1),
        ([deployment(replicas=None), hpa(minimum=2)], 1),
        ([deployment(replicas=None), hpa(minimum=2), pdb()], 0),
        ([deployment(replicas=None), hpa(minimum=None)], 0),
        ([deployment(replicas=None)], 0),
        ([deployment(replicas=1)], 0),
    ],
    ids=[
        "two-no-pdb",
        "two-pdb",
        "pdb-other-labels",
        "pdb-other-namespace",
        "hpa-min-2",
        "hpa-min-2-pdb",
        "hpa-default-min",
        "replicas-unset",
        "one",
    ],
)
def test_disruption_budget(resources: list[Resource], violations: int) -> None:
    assert len(stack_findings(g.check_disruption_budget, resources)) == violations


# --------------------------------------------------------------------------- image pinning


def test_stack_of_reads_the_urn() -> None:
    assert g.stack_of("urn:pulumi:prod::wal-service::kubernetes:apps/v1:Deployment::x") == "prod"
    assert g.stack_of("not-a-urn") == ""


def _levels(found: list[Violation], prefix: str = "image-pinned") -> list[tuple[str, str]]:
    return [(v.policy, v.level) for v in found if v.policy.startswith(prefix)]


@pytest.mark.parametrize(
    ("stack", "config", "expected"),
    [
        ("prod", {}, [("image-pinned-by-digest", "mandatory")]),
        ("dev", {}, [("image-pinned-by-digest-advisory", "advisory")]),
        ("staging", {}, [("image-pinned-by-digest-advisory", "advisory")]),
        ("staging", {"mandatoryStacks": ["staging"]}, [("image-pinned-by-digest", "mandatory")]),
        ("prod", {"mandatoryStacks": []}, [("image-pinned-by-digest-advisory", "advisory")]),
    ],
)
def test_image_pinning_is_mandatory_only_in_mandatory_stacks(
    stack: str, config: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    both = {"image-pinned-by-digest": config, "image-pinned-by-digest-advisory": config}
    tagged = deployment(containers=[container(image="registry.example.com/app:1.2.3")], stack=stack)
    assert _levels(Pack(both).run([tagged])) == expected
    assert _levels(Pack(both).run([deployment(stack=stack)])) == []


def test_image_without_any_image_field_is_unpinned() -> None:
    found = mandatory(Pack().run([deployment(containers=[{"name": "x"}], stack="prod")]))
    assert any(v.policy == "image-pinned-by-digest" for v in found)
