"""The Pod Security Standards port: each baseline and restricted check, and what restricted allows."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from policy.guardrails.pod_security import check_pod_security_restricted
from tests.policy.builders import DIGEST, container, deployment, findings, with_pod
from tests.policy.engine import Resource


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
    found = findings(check_pod_security_restricted, with_pod(deployment(), mutate))
    assert any(f"/{check_id}]" in f for f in found), f"{case}: expected a {check_id} finding, got {found}"


def test_apparmor_annotation_unconfined_is_found() -> None:
    resource = deployment()
    _annotate("container.apparmor.security.beta.kubernetes.io/app", "unconfined")(resource)
    assert any("/appArmorProfile]" in f for f in findings(check_pod_security_restricted, resource))
    _annotate("container.apparmor.security.beta.kubernetes.io/app", "runtime/default")(resource)
    assert findings(check_pod_security_restricted, resource) == []


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
    assert findings(check_pod_security_restricted, with_pod(deployment(), mutate)) == []


# check_sysctls.go: the sysctls every Pod Security level allows (the 1.32 list).
UPSTREAM_SAFE_SYSCTLS = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
]


@pytest.mark.parametrize("name", UPSTREAM_SAFE_SYSCTLS)
def test_every_safe_sysctl_is_allowed(name: str) -> None:
    resource = with_pod(deployment(), _set("securityContext.sysctls", [{"name": name, "value": "1"}]))
    assert findings(check_pod_security_restricted, resource) == []


def test_pod_without_any_security_context_fails_restricted() -> None:
    resource = deployment(containers=[{"name": "bare", "image": DIGEST}])
    del resource.props["spec"]["template"]["spec"]["securityContext"]
    ids = {f.split("]")[0].split("/")[1] for f in findings(check_pod_security_restricted, resource)}
    assert ids == {"allowPrivilegeEscalation", "runAsNonRoot", "seccompProfile_restricted", "capabilities_restricted"}


@pytest.mark.parametrize(
    ("case", "what"),
    [
        ("hostProcess", "pod sets securityContext.windowsOptions.hostProcess=true"),
        ("hostNetwork", "pod sets hostNetwork=true"),
        ("privileged", "container 'app' sets securityContext.privileged=true"),
        ("hostPort", "container 'app' uses hostPort [80]"),
        ("nfs", "volume 'n' uses restricted volume type ['nfs']"),
        ("runAsUser-0", "container 'app' sets runAsUser=0"),
        ("apparmor-pod", "pod sets appArmorProfile.type='Unconfined'"),
        ("apparmor-container", "container 'app' sets appArmorProfile.type='Unconfined'"),
    ],
)
def test_a_violation_names_the_field_to_change_and_what_the_api_server_would_do(case: str, what: str) -> None:
    check_id, mutate = PSS_VIOLATIONS[case]
    baseline = ("hostProcess", "hostNamespaces", "privileged", "hostPorts", "appArmorProfile")
    level = "baseline" if check_id in baseline else "restricted"
    assert findings(check_pod_security_restricted, with_pod(deployment(), mutate)) == [
        f"[{level}/{check_id}] {what}. The namespace enforces Pod Security 'restricted': the API server would "
        "reject these pods. Fix the pod/container securityContext or volumes."
    ]


def test_a_volume_without_a_name_or_a_source_is_still_reported() -> None:
    found = findings(check_pod_security_restricted, with_pod(deployment(), _set("volumes", [{"unknownSource": {}}])))
    assert [f.split(". ")[0] for f in found] == [
        "[restricted/restrictedVolumes] volume '?' uses restricted volume type ['unknownSource']"
    ]


@pytest.mark.parametrize(
    ("case", "only"),
    [
        ("seccomp-pod-unconfined", "[baseline/seccompProfile_baseline] pod sets seccompProfile.type='Unconfined'"),
        ("hostPath", "[baseline/hostPathVolumes] volume 'h' is a hostPath volume"),
    ],
)
def test_what_baseline_forbids_is_reported_once_not_again_by_restricted(case: str, only: str) -> None:
    """Pod Security's restricted checks skip what a baseline check already rejects: one problem, one line."""
    found = findings(check_pod_security_restricted, with_pod(deployment(), PSS_VIOLATIONS[case][1]))
    assert [f.split(". ")[0] for f in found] == [only]
