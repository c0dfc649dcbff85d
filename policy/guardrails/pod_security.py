"""Pod Security Standards: pods the restricted profile admits, checked before the API server rejects them.

A port of kubernetes/pod-security-admission policy/check_*.go (baseline, then restricted). Where a
restricted check overrides a baseline one upstream (OverrideCheckIDs), the baseline finding is reported
and the restricted check reports only what baseline does not already cover. It also catches what
scanners such as checkov miss (hostPath, procMount, sysctls, AppArmor/seccomp Unconfined, SELinux).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pulumi_policy import Severity

from .common import PROBES, Report, as_map, as_seq, containers, declare, dig, on_each_resource, pod_template

PodCheck = Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]


def _security_context(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_map(container.get("securityContext"))


def _pod_security_context(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return as_map(spec.get("securityContext"))


def psa_host_process(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_windowsHostProcess.go
    found = []
    if dig(_pod_security_context(spec), "windowsOptions", "hostProcess") is True:
        found.append("pod sets securityContext.windowsOptions.hostProcess=true")
    for where, container in containers(spec):
        if dig(_security_context(container), "windowsOptions", "hostProcess") is True:
            found.append(f"{where} sets securityContext.windowsOptions.hostProcess=true")
    return found


def psa_host_namespaces(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_hostNamespaces.go
    return [f"pod sets {field}=true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field) is True]


def psa_privileged(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_privileged.go
    return [
        f"{where} sets securityContext.privileged=true"
        for where, container in containers(spec)
        if _security_context(container).get("privileged") is True
    ]


# check_capabilities_baseline.go: the container runtime's default set.
BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)


def psa_capabilities_baseline(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_capabilities_baseline.go
    found = []
    for where, container in containers(spec):
        added = [str(c) for c in as_seq(dig(_security_context(container), "capabilities", "add"))]
        bad = sorted(c for c in added if c not in BASELINE_CAPABILITIES)
        if bad:
            found.append(f"{where} adds non-default capabilities {bad}")
    return found


def psa_capabilities_restricted(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_capabilities_restricted.go: drop ALL, add at most NET_BIND_SERVICE.
    found = []
    for where, container in containers(spec):
        capabilities = as_map(_security_context(container).get("capabilities"))
        if "ALL" not in [str(c) for c in as_seq(capabilities.get("drop"))]:
            found.append(f"{where} must set securityContext.capabilities.drop=['ALL']")
        added = [str(c) for c in as_seq(capabilities.get("add"))]
        # Capabilities outside the default set are already the baseline check's finding.
        bad = sorted(c for c in added if c != "NET_BIND_SERVICE" and c in BASELINE_CAPABILITIES)
        if bad:
            found.append(f"{where} may add only NET_BIND_SERVICE, not {bad}")
    return found


def psa_host_path_volumes(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_hostPathVolumes.go
    return [
        f"volume {as_map(volume).get('name', '?')!r} is a hostPath volume"
        for volume in as_seq(spec.get("volumes"))
        if as_map(volume).get("hostPath") is not None
    ]


# check_restrictedVolumes.go (plus `image`, allowed by the restricted profile since image volumes exist).
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
        "image",
    }
)


def psa_restricted_volumes(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_restrictedVolumes.go; hostPath is reported by the baseline check above.
    found = []
    for volume in as_seq(spec.get("volumes")):
        volume = as_map(volume)
        sources = [key for key in volume if key != "name" and volume.get(key) is not None]
        if "hostPath" in sources or any(source in RESTRICTED_VOLUME_TYPES for source in sources):
            continue
        found.append(f"volume {volume.get('name', '?')!r} uses restricted volume type {sources or ['unknown']}")
    return found


def psa_host_ports(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_hostPorts.go
    found = []
    for where, container in containers(spec):
        ports = [as_map(p).get("hostPort") for p in as_seq(container.get("ports"))]
        bad = [p for p in ports if p not in (None, 0)]
        if bad:
            found.append(f"{where} uses hostPort {bad}")
    return found


def psa_host_probes_and_lifecycle(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_hostProbesAndhostLifecycle.go (baseline since 1.34): probes and hooks may not target another host.
    found = []
    for where, container in containers(spec):
        handlers = [(probe, container.get(probe)) for probe in PROBES]
        lifecycle = as_map(container.get("lifecycle"))
        handlers += [(f"lifecycle.{hook}", lifecycle.get(hook)) for hook in ("postStart", "preStop")]
        for label, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = dig(handler, action, "host")
                if host:
                    found.append(f"{where} {label}.{action}.host is {host!r}")
    return found


def _apparmor_type_allowed(profile: Any) -> bool:
    return as_map(profile).get("type") in ("RuntimeDefault", "Localhost")


def psa_apparmor(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_appArmorProfile.go: annotations and appArmorProfile fields, never Unconfined.
    found = []
    pod_profile = _pod_security_context(spec).get("appArmorProfile")
    if pod_profile is not None and not _apparmor_type_allowed(pod_profile):
        found.append(f"pod sets appArmorProfile.type={as_map(pod_profile).get('type')!r}")
    for where, container in containers(spec):
        profile = _security_context(container).get("appArmorProfile")
        if profile is not None and not _apparmor_type_allowed(profile):
            found.append(f"{where} sets appArmorProfile.type={as_map(profile).get('type')!r}")
    for key, value in as_map(meta.get("annotations")).items():
        if str(key).startswith("container.apparmor.security.beta.kubernetes.io/"):
            value = str(value or "")
            if value and value != "runtime/default" and not value.startswith("localhost/"):
                found.append(f"annotation {key}={value!r}")
    return found


SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})


def _selinux_problems(options: Any) -> list[str]:
    options = as_map(options)
    problems = []
    if str(options.get("type") or "") not in SELINUX_TYPES:
        problems.append(f"type {options.get('type')!r}")
    problems += [f"{field} set" for field in ("user", "role") if options.get(field)]
    return problems


def psa_selinux(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_seLinuxOptions.go
    found = []
    if problems := _selinux_problems(_pod_security_context(spec).get("seLinuxOptions")):
        found.append(f"pod seLinuxOptions: {', '.join(problems)}")
    for where, container in containers(spec):
        if problems := _selinux_problems(_security_context(container).get("seLinuxOptions")):
            found.append(f"{where} seLinuxOptions: {', '.join(problems)}")
    return found


def psa_proc_mount(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_procMount.go
    return [
        f"{where} sets procMount={_security_context(container).get('procMount')!r}"
        for where, container in containers(spec)
        if _security_context(container).get("procMount") not in (None, "Default")
    ]


def psa_seccomp_baseline(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_seccompProfile_baseline.go: never Unconfined.
    found = []
    if dig(_pod_security_context(spec), "seccompProfile", "type") == "Unconfined":
        found.append("pod sets seccompProfile.type='Unconfined'")
    for where, container in containers(spec):
        if dig(_security_context(container), "seccompProfile", "type") == "Unconfined":
            found.append(f"{where} sets seccompProfile.type='Unconfined'")
    return found


def psa_seccomp_restricted(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_seccompProfile_restricted.go: RuntimeDefault or Localhost on the pod, or on every container.
    allowed = ("RuntimeDefault", "Localhost")
    found = []
    pod_type = dig(_pod_security_context(spec), "seccompProfile", "type")
    if pod_type not in (None, "Unconfined", *allowed):
        found.append(f"pod sets seccompProfile.type={pod_type!r}")
    for where, container in containers(spec):
        container_type = dig(_security_context(container), "seccompProfile", "type")
        if container_type is None and pod_type not in allowed:
            found.append(f"{where} has no seccompProfile and the pod sets none to inherit (RuntimeDefault)")
        elif container_type not in (None, "Unconfined", *allowed):
            found.append(f"{where} sets seccompProfile.type={container_type!r}")
    return found


# check_sysctls.go: the namespaced, node-isolated sysctls (1.0; 1.27 reserved ports; 1.29 keepalive/fin;
# 1.32 tcp_rmem/tcp_wmem).
SAFE_SYSCTLS = frozenset(
    {
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
    }
)


def psa_sysctls(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_sysctls.go
    bad = [
        str(as_map(sysctl).get("name"))
        for sysctl in as_seq(_pod_security_context(spec).get("sysctls"))
        if as_map(sysctl).get("name") not in SAFE_SYSCTLS
    ]
    return [f"pod sets unsafe sysctls {bad}"] if bad else []


def psa_allow_privilege_escalation(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_allowPrivilegeEscalation.go (ephemeral containers included, as upstream visits them all)
    return [
        f"{where} must set securityContext.allowPrivilegeEscalation=false"
        for where, container in containers(spec)
        if _security_context(container).get("allowPrivilegeEscalation") is not False
    ]


def psa_run_as_non_root(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_runAsNonRoot.go: true on the pod (and no container false), or true on every container.
    found = []
    pod_value = _pod_security_context(spec).get("runAsNonRoot")
    if pod_value is False:
        found.append("pod sets runAsNonRoot=false")
    for where, container in containers(spec):
        value = _security_context(container).get("runAsNonRoot")
        if value is False:
            found.append(f"{where} sets runAsNonRoot=false")
        elif value is None and pod_value is not True:
            found.append(f"{where} does not set runAsNonRoot=true and the pod does not either")
    return found


def psa_run_as_user(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_runAsUser.go
    found = []
    if _pod_security_context(spec).get("runAsUser") == 0:
        found.append("pod sets runAsUser=0")
    for where, container in containers(spec):
        if _security_context(container).get("runAsUser") == 0:
            found.append(f"{where} sets runAsUser=0")
    return found


BASELINE_CHECKS: tuple[tuple[str, PodCheck], ...] = (
    ("hostProcess", psa_host_process),
    ("hostNamespaces", psa_host_namespaces),
    ("privileged", psa_privileged),
    ("capabilities_baseline", psa_capabilities_baseline),
    ("hostPathVolumes", psa_host_path_volumes),
    ("hostPorts", psa_host_ports),
    ("hostProbesAndHostLifecycle", psa_host_probes_and_lifecycle),
    ("appArmorProfile", psa_apparmor),
    ("seLinuxOptions", psa_selinux),
    ("procMount", psa_proc_mount),
    ("seccompProfile_baseline", psa_seccomp_baseline),
    ("sysctls", psa_sysctls),
)
RESTRICTED_CHECKS: tuple[tuple[str, PodCheck], ...] = (
    ("restrictedVolumes", psa_restricted_volumes),
    ("allowPrivilegeEscalation", psa_allow_privilege_escalation),
    ("runAsNonRoot", psa_run_as_non_root),
    ("runAsUser", psa_run_as_user),
    ("seccompProfile_restricted", psa_seccomp_restricted),
    ("capabilities_restricted", psa_capabilities_restricted),
)


def check_pod_security_restricted(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    template = pod_template(resource_type, props)
    if template is None:
        return
    for level, checks in (("baseline", BASELINE_CHECKS), ("restricted", RESTRICTED_CHECKS)):
        for check_id, check in checks:
            for finding in check(template.metadata, template.spec):
                report(
                    f"[{level}/{check_id}] {finding}. The namespace enforces Pod Security 'restricted': the API "
                    "server would reject these pods. Fix the pod/container securityContext or volumes."
                )


pod_security_restricted = declare(
    "pod-security-restricted",
    on_each_resource(check_pod_security_restricted),
    description="Pods meet the Pod Security Standards 'restricted' profile and the baseline beneath it (ported "
    "from kubernetes/pod-security-admission): a namespace enforcing 'restricted' would reject them otherwise, and "
    "each relaxed field widens what a compromised container can reach.",
    remediation="Run as non-root with allowPrivilegeEscalation false, drop ALL capabilities, "
    "seccomp RuntimeDefault, and only configMap/secret/emptyDir/projected/PVC-style volumes.",
    url="https://kubernetes.io/docs/concepts/security/pod-security-standards/",
    severity=Severity.HIGH,
    tags=["security", "pod-security-standards"],
)
