"""Guardrails for the WAL service stacks: every validator as a pure function, and the policies built from them.

Each `check_*` function takes the resource type, its input properties (camelCase, as the engine
sends them) and a report callback, and calls the callback once per finding. Stack checks take the
stack's resources (anything with `resource_type`, `props`, `urn` and `name`, such as
`pulumi_policy.PolicyResource`) and a callback `(message, urn)`. Nothing here starts a policy pack:
`__main__.py` builds the `PolicyPack`; tests call the functions or the `POLICIES` directly.

Property values arrive as `Mapping`/`Sequence` proxies under the real engine, so the helpers below
never test for `dict`/`list`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

PACK_NAME = "wal-service-guardrails"

Report = Callable[[str], None]
"""Resource checks: report one finding (the engine attaches the resource's URN)."""
StackReport = Callable[[str, str | None], None]
"""Stack checks: report one finding and the URN of the resource it concerns."""


class StackResource(Protocol):
    """What a stack check reads of a resource; `pulumi_policy.PolicyResource` satisfies it."""

    @property
    def resource_type(self) -> str: ...
    @property
    def props(self) -> Mapping[str, Any]: ...
    @property
    def urn(self) -> str: ...
    @property
    def name(self) -> str: ...


# --------------------------------------------------------------------------- property helpers


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _seq(value: Any) -> Sequence[Any]:
    return value if isinstance(value, Sequence) and not isinstance(value, str | bytes) else ()


def _dig(value: Any, *path: str) -> Any:
    for key in path:
        value = _map(value).get(key)
    return value


# Kubernetes types whose props carry a pod spec, and where it sits.
_POD_SPEC_PATHS: dict[str, tuple[str, ...]] = {
    "kubernetes:core/v1:Pod": (),
    "kubernetes:apps/v1:Deployment": ("spec", "template"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template"),
    "kubernetes:core/v1:ReplicationController": ("spec", "template"),
    "kubernetes:batch/v1:Job": ("spec", "template"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template"),
}
# Long-running workloads: probes apply to them (a Job's pods are meant to exit).
_SERVING_WORKLOADS = frozenset(
    {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet"}
)
_SCALABLE = frozenset({"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"})
_INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
_NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
_HPA_TYPES = frozenset(
    {
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
    }
)
_PDB = "kubernetes:policy/v1:PodDisruptionBudget"
_CONFIG_MAP = "kubernetes:core/v1:ConfigMap"
_DOCKER_IMAGES = frozenset({"docker:index/image:Image", "docker-build:index:Image"})


@dataclass(frozen=True)
class PodTemplate:
    """A pod spec and the metadata beside it (the pod's own, or its template's)."""

    metadata: Mapping[str, Any]
    spec: Mapping[str, Any]


def pod_template(resource_type: str, props: Mapping[str, Any]) -> PodTemplate | None:
    """The pod template of a workload resource, None for anything else."""
    path = _POD_SPEC_PATHS.get(resource_type)
    if path is None:
        return None
    holder = _dig(props, *path)
    return PodTemplate(_map(_dig(holder, "metadata")), _map(_dig(holder, "spec")))


def _containers(spec: Mapping[str, Any], *kinds: str) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(description, container) for every container of the given kinds (all kinds when none given)."""
    for kind in kinds or ("initContainers", "containers", "ephemeralContainers"):
        for container in _seq(spec.get(kind)):
            container = _map(container)
            yield f"{kind[:-1]} {container.get('name', '?')!r}", container


def _workload_namespace(props: Mapping[str, Any]) -> str:
    return str(_dig(props, "metadata", "namespace") or "default")


def _workload_name(props: Mapping[str, Any]) -> str:
    return str(_dig(props, "metadata", "name") or "")


def stack_of(urn: str) -> str:
    """The stack name inside a URN: `urn:pulumi:<stack>::<project>::<type>::<name>`."""
    head = urn.split("::", 1)[0]
    parts = head.split(":")
    return parts[2] if len(parts) >= 3 and parts[0] == "urn" and parts[1] == "pulumi" else ""


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """Kubernetes LabelSelector semantics: an empty selector matches everything."""
    selector = _map(selector)
    for key, value in _map(selector.get("matchLabels")).items():
        if labels.get(key) != value:
            return False
    for expression in _seq(selector.get("matchExpressions")):
        expression = _map(expression)
        key, operator = str(expression.get("key")), expression.get("operator")
        values = {str(v) for v in _seq(expression.get("values"))}
        present = key in labels
        if operator == "In" and not (present and str(labels[key]) in values):
            return False
        if operator == "NotIn" and present and str(labels[key]) in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _selector_is_empty(selector: Any) -> bool:
    selector = _map(selector)
    return not _map(selector.get("matchLabels")) and not _seq(selector.get("matchExpressions"))


# --------------------------------------------------------------------------- ingress (seed anti-pattern 1)

REWRITE_ANNOTATIONS = (
    "nginx.ingress.kubernetes.io/rewrite-target",
    "nginx.ingress.kubernetes.io/use-regex",
)


def check_ingress_no_path_rewrite(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    if resource_type != _INGRESS:
        return
    annotations = _map(_dig(props, "metadata", "annotations"))
    for key in REWRITE_ANNOTATIONS:
        if key in annotations:
            report(
                f"annotation {key}={annotations[key]!r} rewrites request paths; the seed's ingress broke valid "
                "endpoints this way. Remove it and route `path: /` with `pathType: Prefix` to the service."
            )
    for rule in _seq(_dig(props, "spec", "rules")):
        for path in _seq(_dig(rule, "http", "paths")):
            value = str(_map(path).get("path") or "")
            if re.search(r"[()$^|\\*+?\[\]]", value):
                report(
                    f"path {value!r} is a regular expression; use a plain prefix such as `/` with "
                    "`pathType: Prefix` (no capture groups, no rewriting)."
                )


def _ingress_hosts(props: Mapping[str, Any]) -> set[str]:
    spec = _map(props.get("spec"))
    rules = _seq(spec.get("rules"))
    hosts = {str(_map(rule).get("host") or "*") for rule in rules}
    if not rules and spec.get("defaultBackend"):
        hosts.add("*")
    return hosts


def check_ingress_unique_host(resources: Sequence[StackResource], report: StackReport) -> None:
    owners: dict[str, StackResource] = {}
    for resource in resources:
        if resource.resource_type != _INGRESS:
            continue
        for host in sorted(_ingress_hosts(resource.props)):
            first = owners.setdefault(host, resource)
            if first is not resource and first.urn != resource.urn:
                report(
                    f"Ingress {resource.name} serves host {host!r}, which Ingress {first.name} already serves; "
                    "two Ingresses for one host route unpredictably (seed lesson 4). Keep one Ingress per host "
                    "and give each environment its own host name.",
                    resource.urn,
                )


# --------------------------------------------------------------------------- development images (anti-pattern 2)

# uvicorn/nest/webpack/nodemon watch modes and the npm script that starts them.
_DEV_ARGUMENT = re.compile(r"^(--reload\b.*|--watch\b.*|start:dev|nodemon|watchmedo)$")
_DEV_REMEDY = (
    "Build and deploy the production target (compiled, no watcher) in every environment; keep development "
    "images for laptops outside Kubernetes."
)
# distribution/reference, simplified: [host[:port]/]path[:tag][@digest]
_IMAGE = re.compile(r"^(?P<name>(?:[^/@]+/)*[^:/@]+)(?::(?P<tag>[^/@]+))?(?:@(?P<digest>[^@]+))?$")


def image_tag(image: str) -> tuple[str | None, str | None]:
    """(tag, digest) of an image reference; (None, None) for a bare name."""
    match = _IMAGE.match(image.strip())
    if not match:
        return None, None
    return match.group("tag"), match.group("digest")


def _dev_image_problem(image: str) -> str | None:
    tag, digest = image_tag(image)
    if tag and tag.startswith("dev-"):
        return f"image {image!r} carries a development tag ({tag!r})"
    if tag == "latest" and not digest:
        return f"image {image!r} uses ':latest', which moves under you (seed errata 5)"
    if tag is None and digest is None:
        return f"image {image!r} has neither tag nor digest, so it means ':latest'"
    return None


def check_no_development_images(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    if resource_type in _DOCKER_IMAGES:
        target = _dig(props, "build", "target") or props.get("target")
        if target == "development":
            report(f"the image is built from the 'development' target. {_DEV_REMEDY}")
        names = [props.get("imageName")] + list(_seq(props.get("tags")))
        for name in names:
            if isinstance(name, str) and (problem := _dev_image_problem(name)):
                report(f"{problem}. {_DEV_REMEDY}")
        return
    template = pod_template(resource_type, props)
    if template is None:
        return
    for where, container in _containers(template.spec):
        words = [str(word) for word in (*_seq(container.get("command")), *_seq(container.get("args")))]
        hits = [token for word in words for token in re.split(r"\s+", word) if token and _DEV_ARGUMENT.match(token)]
        if hits:
            report(f"{where} runs a watcher/reloader ({', '.join(hits)}): that is a development image. {_DEV_REMEDY}")
        image = container.get("image")
        if isinstance(image, str) and (problem := _dev_image_problem(image)):
            report(f"{where}: {problem}. Deploy an immutable tag or, better, the digest.")


# --------------------------------------------------------------------------- probes and resources

_PROBES = ("startupProbe", "readinessProbe", "livenessProbe")


def check_probes_required(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    if resource_type not in _SERVING_WORKLOADS:
        return
    template = pod_template(resource_type, props)
    if template is None:
        return
    containers = list(_containers(template.spec, "containers"))
    if not containers:
        report("the pod template has no containers")
    for where, container in containers:
        missing = [probe for probe in _PROBES if not _map(container.get(probe))]
        if missing:
            report(
                f"{where} has no {', '.join(missing)}. Give every container a startup probe (fast polling, a "
                "failure budget for the slowest start), a readiness probe (traffic) and a liveness probe (restarts)."
            )


def check_startup_probe_no_initial_delay(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    template = pod_template(resource_type, props)
    if template is None:
        return
    for where, container in _containers(template.spec):
        delay = _dig(container, "startupProbe", "initialDelaySeconds")
        if isinstance(delay, int | float) and delay > 0:
            report(
                f"{where}: startupProbe.initialDelaySeconds is {delay:g}, so no pod is Ready before that even when "
                "the app is up at once (seed errata 1). Set it to 0, poll every 1-2 s and size failureThreshold "
                "for the slowest start."
            )


def check_resources_required(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    template = pod_template(resource_type, props)
    if template is None:
        return
    for where, container in _containers(template.spec, "initContainers", "containers"):
        resources = _map(container.get("resources"))
        missing = [
            f"{section}.{name}"
            for section in ("requests", "limits")
            for name in ("cpu", "memory")
            if _map(resources.get(section)).get(name) in (None, "")
        ]
        if missing:
            report(
                f"{where} sets no resources.{', resources.'.join(missing)}. Requests let the scheduler place the "
                "pod; limits stop one leak from starving the node (seed: conservative requests, reasonable limits)."
            )


# --------------------------------------------------------------------------- Pod Security Standards
# A port of kubernetes/pod-security-admission policy/check_*.go (baseline, then restricted). Where a
# restricted check overrides a baseline one upstream (OverrideCheckIDs), the baseline finding is reported
# and the restricted check reports only what baseline does not already cover.

PodCheck = Callable[[Mapping[str, Any], Mapping[str, Any]], list[str]]


def _security_context(container: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(container.get("securityContext"))


def _pod_security_context(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    return _map(spec.get("securityContext"))


def psa_host_process(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_windowsHostProcess.go
    found = []
    if _dig(_pod_security_context(spec), "windowsOptions", "hostProcess") is True:
        found.append("pod sets securityContext.windowsOptions.hostProcess=true")
    for where, container in _containers(spec):
        if _dig(_security_context(container), "windowsOptions", "hostProcess") is True:
            found.append(f"{where} sets securityContext.windowsOptions.hostProcess=true")
    return found


def psa_host_namespaces(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_hostNamespaces.go
    return [f"pod sets {field}=true" for field in ("hostNetwork", "hostPID", "hostIPC") if spec.get(field) is True]


def psa_privileged(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_privileged.go
    return [
        f"{where} sets securityContext.privileged=true"
        for where, container in _containers(spec)
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
    for where, container in _containers(spec):
        added = [str(c) for c in _seq(_dig(_security_context(container), "capabilities", "add"))]
        bad = sorted(c for c in added if c not in BASELINE_CAPABILITIES)
        if bad:
            found.append(f"{where} adds non-default capabilities {bad}")
    return found


def psa_capabilities_restricted(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_capabilities_restricted.go: drop ALL, add at most NET_BIND_SERVICE.
    found = []
    for where, container in _containers(spec):
        capabilities = _map(_security_context(container).get("capabilities"))
        if "ALL" not in [str(c) for c in _seq(capabilities.get("drop"))]:
            found.append(f"{where} must set securityContext.capabilities.drop=['ALL']")
        added = [str(c) for c in _seq(capabilities.get("add"))]
        # Capabilities outside the default set are already the baseline check's finding.
        bad = sorted(c for c in added if c != "NET_BIND_SERVICE" and c in BASELINE_CAPABILITIES)
        if bad:
            found.append(f"{where} may add only NET_BIND_SERVICE, not {bad}")
    return found


def psa_host_path_volumes(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_hostPathVolumes.go
    return [
        f"volume {_map(volume).get('name', '?')!r} is a hostPath volume"
        for volume in _seq(spec.get("volumes"))
        if _map(volume).get("hostPath") is not None
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
    for volume in _seq(spec.get("volumes")):
        volume = _map(volume)
        sources = [key for key in volume if key != "name" and volume.get(key) is not None]
        if "hostPath" in sources or any(source in RESTRICTED_VOLUME_TYPES for source in sources):
            continue
        found.append(f"volume {volume.get('name', '?')!r} uses restricted volume type {sources or ['unknown']}")
    return found


def psa_host_ports(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_hostPorts.go
    found = []
    for where, container in _containers(spec):
        ports = [_map(p).get("hostPort") for p in _seq(container.get("ports"))]
        bad = [p for p in ports if p not in (None, 0)]
        if bad:
            found.append(f"{where} uses hostPort {bad}")
    return found


def psa_host_probes_and_lifecycle(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_hostProbesAndhostLifecycle.go (baseline since 1.34): probes and hooks may not target another host.
    found = []
    for where, container in _containers(spec):
        handlers = [(probe, container.get(probe)) for probe in _PROBES]
        lifecycle = _map(container.get("lifecycle"))
        handlers += [(f"lifecycle.{hook}", lifecycle.get(hook)) for hook in ("postStart", "preStop")]
        for label, handler in handlers:
            for action in ("httpGet", "tcpSocket"):
                host = _dig(handler, action, "host")
                if host:
                    found.append(f"{where} {label}.{action}.host is {host!r}")
    return found


def _apparmor_type_allowed(profile: Any) -> bool:
    return _map(profile).get("type") in ("RuntimeDefault", "Localhost")


def psa_apparmor(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_appArmorProfile.go: annotations and appArmorProfile fields, never Unconfined.
    found = []
    pod_profile = _pod_security_context(spec).get("appArmorProfile")
    if pod_profile is not None and not _apparmor_type_allowed(pod_profile):
        found.append(f"pod sets appArmorProfile.type={_map(pod_profile).get('type')!r}")
    for where, container in _containers(spec):
        profile = _security_context(container).get("appArmorProfile")
        if profile is not None and not _apparmor_type_allowed(profile):
            found.append(f"{where} sets appArmorProfile.type={_map(profile).get('type')!r}")
    for key, value in _map(meta.get("annotations")).items():
        if str(key).startswith("container.apparmor.security.beta.kubernetes.io/"):
            value = str(value or "")
            if value and value != "runtime/default" and not value.startswith("localhost/"):
                found.append(f"annotation {key}={value!r}")
    return found


SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t"})


def _selinux_problems(options: Any) -> list[str]:
    options = _map(options)
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
    for where, container in _containers(spec):
        if problems := _selinux_problems(_security_context(container).get("seLinuxOptions")):
            found.append(f"{where} seLinuxOptions: {', '.join(problems)}")
    return found


def psa_proc_mount(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_procMount.go
    return [
        f"{where} sets procMount={_security_context(container).get('procMount')!r}"
        for where, container in _containers(spec)
        if _security_context(container).get("procMount") not in (None, "Default")
    ]


def psa_seccomp_baseline(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_seccompProfile_baseline.go: never Unconfined.
    found = []
    if _dig(_pod_security_context(spec), "seccompProfile", "type") == "Unconfined":
        found.append("pod sets seccompProfile.type='Unconfined'")
    for where, container in _containers(spec):
        if _dig(_security_context(container), "seccompProfile", "type") == "Unconfined":
            found.append(f"{where} sets seccompProfile.type='Unconfined'")
    return found


def psa_seccomp_restricted(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_seccompProfile_restricted.go: RuntimeDefault or Localhost on the pod, or on every container.
    allowed = ("RuntimeDefault", "Localhost")
    found = []
    pod_type = _dig(_pod_security_context(spec), "seccompProfile", "type")
    if pod_type not in (None, "Unconfined", *allowed):
        found.append(f"pod sets seccompProfile.type={pod_type!r}")
    for where, container in _containers(spec):
        container_type = _dig(_security_context(container), "seccompProfile", "type")
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
        str(_map(sysctl).get("name"))
        for sysctl in _seq(_pod_security_context(spec).get("sysctls"))
        if _map(sysctl).get("name") not in SAFE_SYSCTLS
    ]
    return [f"pod sets unsafe sysctls {bad}"] if bad else []


def psa_allow_privilege_escalation(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_allowPrivilegeEscalation.go (ephemeral containers included, as upstream visits them all)
    return [
        f"{where} must set securityContext.allowPrivilegeEscalation=false"
        for where, container in _containers(spec)
        if _security_context(container).get("allowPrivilegeEscalation") is not False
    ]


def psa_run_as_non_root(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> list[str]:
    # check_runAsNonRoot.go: true on the pod (and no container false), or true on every container.
    found = []
    pod_value = _pod_security_context(spec).get("runAsNonRoot")
    if pod_value is False:
        found.append("pod sets runAsNonRoot=false")
    for where, container in _containers(spec):
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
    for where, container in _containers(spec):
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


# --------------------------------------------------------------------------- network policies (seed errata 2)


def _is_default_deny(props: Mapping[str, Any]) -> bool:
    spec = _map(props.get("spec"))
    types = {str(t) for t in _seq(spec.get("policyTypes"))}
    return (
        _selector_is_empty(spec.get("podSelector"))
        and {"Ingress", "Egress"} <= types
        and not _seq(spec.get("ingress"))
        and not _seq(spec.get("egress"))
    )


def _peer_reaches_kube_dns(peer: Any) -> bool:
    peer = _map(peer)
    if peer.get("ipBlock") is not None:
        return False
    namespaces = peer.get("namespaceSelector")
    pods = peer.get("podSelector")
    if namespaces is None:
        return False  # a podSelector alone selects pods in the policy's own namespace
    return selector_matches(namespaces, {"kubernetes.io/metadata.name": "kube-system"}) and (
        pods is None or selector_matches(pods, {"k8s-app": "kube-dns"})
    )


def _rule_allows_port(rule: Mapping[str, Any], protocol: str, number: int) -> bool:
    ports = _seq(rule.get("ports"))
    if not ports:
        return True
    for port in ports:
        port = _map(port)
        if str(port.get("protocol") or "TCP") != protocol:
            continue
        start = port.get("port")
        if start is None:
            return True
        if isinstance(start, int | float):
            end = port.get("endPort") or start
            if start <= number <= end:
                return True
    return False


def _allows_dns(props: Mapping[str, Any]) -> bool:
    spec = _map(props.get("spec"))
    if "Egress" not in {str(t) for t in _seq(spec.get("policyTypes"))}:
        return False
    for rule in _seq(spec.get("egress")):
        rule = _map(rule)
        peers = _seq(rule.get("to"))
        if (not peers or any(_peer_reaches_kube_dns(p) for p in peers)) and all(
            _rule_allows_port(rule, protocol, 53) for protocol in ("UDP", "TCP")
        ):
            return True
    return False


def _workloads(resources: Sequence[StackResource]) -> Iterator[tuple[StackResource, PodTemplate]]:
    for resource in resources:
        template = pod_template(resource.resource_type, resource.props)
        if template is not None:
            yield resource, template


def check_network_policy_coverage(resources: Sequence[StackResource], report: StackReport) -> None:
    policies: dict[str, list[StackResource]] = {}
    for resource in resources:
        if resource.resource_type == _NETWORK_POLICY:
            policies.setdefault(_workload_namespace(resource.props), []).append(resource)
    reported_namespaces: set[str] = set()
    for workload, template in _workloads(resources):
        namespace = _workload_namespace(workload.props)
        in_namespace = policies.get(namespace, [])
        if namespace not in reported_namespaces and not any(_is_default_deny(p.props) for p in in_namespace):
            reported_namespaces.add(namespace)
            report(
                f"namespace {namespace!r} runs workloads (e.g. {workload.name}) but has no default-deny "
                "NetworkPolicy (empty podSelector, policyTypes Ingress and Egress, no rules). Add one, then allow "
                "only the traffic each workload needs.",
                workload.urn,
            )
        labels = _map(template.metadata.get("labels"))
        if not any(
            _allows_dns(p.props) and selector_matches(_dig(p.props, "spec", "podSelector"), labels)
            for p in in_namespace
        ):
            report(
                f"{workload.name}: no NetworkPolicy in {namespace!r} selecting its pods allows egress to kube-dns "
                "(namespace kubernetes.io/metadata.name=kube-system, pods k8s-app=kube-dns) on UDP and TCP 53; "
                "under default-deny the pods cannot resolve any host (seed errata 2).",
                workload.urn,
            )


# --------------------------------------------------------------------------- credentials

_CREDENTIAL_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|SECRET|TOKEN|CREDENTIAL|PRIVATE_?KEY|API_?KEY|ACCESS_?KEY|(^|_)KEY$|(^|_)PWD$)",
    re.IGNORECASE,
)


def looks_like_credential(name: str) -> bool:
    # *_FILE variables name a mounted secret file, the recommended way to pass one.
    return bool(_CREDENTIAL_NAME.search(name)) and not name.upper().endswith("_FILE")


def check_no_plaintext_secrets(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    remedy = (
        "Keep the value in a Secret (a `pulumi config set --secret` or pulumi-random value) and reference it "
        "with valueFrom.secretKeyRef or envFrom.secretRef."
    )
    if resource_type == _CONFIG_MAP:
        for key in _map(props.get("data")):
            if looks_like_credential(str(key)):
                report(f"ConfigMap key {key!r} looks like a credential; ConfigMaps are shown in clear. {remedy}")
        return
    template = pod_template(resource_type, props)
    if template is None:
        return
    for where, container in _containers(template.spec):
        for env in _seq(container.get("env")):
            env = _map(env)
            name = str(env.get("name") or "")
            if looks_like_credential(name) and env.get("value") not in (None, ""):
                report(f"{where} sets {name} as a literal value in the pod spec. {remedy}")


# --------------------------------------------------------------------------- scaling and disruption


def _hpa_targets(resources: Sequence[StackResource]) -> dict[tuple[str, str, str], StackResource]:
    targets = {}
    for resource in resources:
        if resource.resource_type in _HPA_TYPES:
            ref = _map(_dig(resource.props, "spec", "scaleTargetRef"))
            key = (str(ref.get("kind")), _workload_namespace(resource.props), str(ref.get("name")))
            targets[key] = resource
    return targets


def _kind(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def check_hpa_owns_replicas(resources: Sequence[StackResource], report: StackReport) -> None:
    targets = _hpa_targets(resources)
    for resource in resources:
        if resource.resource_type not in _SCALABLE:
            continue
        key = (_kind(resource.resource_type), _workload_namespace(resource.props), _workload_name(resource.props))
        hpa = targets.get(key)
        replicas = _dig(resource.props, "spec", "replicas")
        if hpa is not None and replicas is not None:
            report(
                f"{resource.name} sets spec.replicas={replicas} but HorizontalPodAutoscaler {hpa.name} scales it; "
                "every `pulumi up` would reset the HPA's choice. Leave spec.replicas unset.",
                resource.urn,
            )


def _min_pods(resource: StackResource, targets: Mapping[tuple[str, str, str], StackResource]) -> int:
    key = (_kind(resource.resource_type), _workload_namespace(resource.props), _workload_name(resource.props))
    hpa = targets.get(key)
    if hpa is not None:
        minimum = _dig(hpa.props, "spec", "minReplicas")
        return int(minimum) if isinstance(minimum, int | float) else 1
    replicas = _dig(resource.props, "spec", "replicas")
    return int(replicas) if isinstance(replicas, int | float) else 1


def check_disruption_budget(resources: Sequence[StackResource], report: StackReport) -> None:
    targets = _hpa_targets(resources)
    budgets = [r for r in resources if r.resource_type == _PDB]
    for resource in resources:
        if resource.resource_type not in _SCALABLE:
            continue
        pods = _min_pods(resource, targets)
        if pods < 2:
            continue
        namespace = _workload_namespace(resource.props)
        labels = _map(_dig(resource.props, "spec", "template", "metadata", "labels"))
        matching = [
            b
            for b in budgets
            if _workload_namespace(b.props) == namespace
            and _dig(b.props, "spec", "selector") is not None
            and selector_matches(_dig(b.props, "spec", "selector"), labels)
        ]
        if not matching:
            report(
                f"{resource.name} runs at least {pods} pods but no PodDisruptionBudget in {namespace!r} selects "
                "them; a node drain may evict them all at once. Add a PDB (maxUnavailable: 1, "
                "unhealthyPodEvictionPolicy: AlwaysAllow) whose selector matches the pod labels.",
                resource.urn,
            )


# --------------------------------------------------------------------------- image pinning

DEFAULT_MANDATORY_STACKS = ("prod",)
IMAGE_PIN_CONFIG = PolicyConfigSchema(
    properties={
        "mandatoryStacks": {
            "type": "array",
            "items": {"type": "string"},
            "default": list(DEFAULT_MANDATORY_STACKS),
            "description": "Stacks where an image not pinned by digest blocks the update.",
        }
    }
)


def unpinned_images(resource_type: str, props: Mapping[str, Any]) -> list[tuple[str, str]]:
    template = pod_template(resource_type, props)
    if template is None:
        return []
    return [
        (where, str(container.get("image")))
        for where, container in _containers(template.spec)
        if "@sha256:" not in str(container.get("image") or "")
    ]


def check_image_pinned_by_digest(
    resource_type: str, props: Mapping[str, Any], report: Report, *, stack: str, mandatory_stacks: Iterable[str]
) -> None:
    """Reports in the mandatory stacks only; `check_image_pinned_by_digest_advisory` covers the others."""
    if stack not in set(mandatory_stacks):
        return
    for where, image in unpinned_images(resource_type, props):
        report(
            f"{where} runs {image!r}, not pinned by digest; stack {stack!r} deploys only immutable images. "
            "Reference repo@sha256:<digest> (the pushed image's repo_digest, or imageRef)."
        )


def check_image_pinned_by_digest_advisory(
    resource_type: str, props: Mapping[str, Any], report: Report, *, stack: str, mandatory_stacks: Iterable[str]
) -> None:
    if stack in set(mandatory_stacks):
        return
    for where, image in unpinned_images(resource_type, props):
        report(
            f"{where} runs {image!r}, not pinned by digest: a re-pushed tag changes what runs. "
            "Reference repo@sha256:<digest>; this blocks in the stacks listed in mandatoryStacks."
        )


# --------------------------------------------------------------------------- the policies

ResourceCheck = Callable[[str, Mapping[str, Any], Report], None]
StackCheck = Callable[[Sequence[StackResource], StackReport], None]


def _resource_validation(check: ResourceCheck) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        check(args.resource_type, args.props, lambda message: report_violation(message, None))

    return validate


def _stack_validation(check: StackCheck) -> Callable[[StackValidationArgs, ReportViolation], None]:
    def validate(args: StackValidationArgs, report_violation: ReportViolation) -> None:
        check(args.resources, report_violation)

    return validate


def _image_pin_validation(
    check: Callable[..., None],
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    def validate(args: ResourceValidationArgs, report_violation: ReportViolation) -> None:
        stacks = args.get_config().get("mandatoryStacks", DEFAULT_MANDATORY_STACKS)
        check(
            args.resource_type,
            args.props,
            lambda message: report_violation(message, None),
            stack=stack_of(args.urn),
            mandatory_stacks=[str(s) for s in _seq(stacks)],
        )

    return validate


MANDATORY = EnforcementLevel.MANDATORY
ADVISORY = EnforcementLevel.ADVISORY

POLICIES: list[ResourceValidationPolicy | StackValidationPolicy] = [
    ResourceValidationPolicy(
        name="ingress-no-path-rewrite",
        description="Ingresses route plain prefixes: no rewrite-target or use-regex annotation (seed anti-pattern 1).",
        validate=_resource_validation(check_ingress_no_path_rewrite),
        enforcement_level=MANDATORY,
        remediation_steps="Remove the annotations and serve the app under `/` with `pathType: Prefix`.",
    ),
    StackValidationPolicy(
        name="ingress-unique-host",
        description="One Ingress per host name (seed lesson 4: duplicate hosts routed unpredictably).",
        validate=_stack_validation(check_ingress_unique_host),
        enforcement_level=MANDATORY,
        remediation_steps="Delete the duplicate Ingress or give each environment its own host.",
    ),
    ResourceValidationPolicy(
        name="no-development-images",
        description="No watch/reload commands, no :latest or dev-* tags, no 'development' build target "
        "(seed anti-pattern 2).",
        validate=_resource_validation(check_no_development_images),
        enforcement_level=MANDATORY,
        remediation_steps="Build the production target and deploy its digest in every environment.",
    ),
    ResourceValidationPolicy(
        name="probes-required",
        description="Every container of a Deployment, StatefulSet or DaemonSet has startup, readiness and "
        "liveness probes (seed: health checks).",
        validate=_resource_validation(check_probes_required),
        enforcement_level=MANDATORY,
        remediation_steps="Add startupProbe, readinessProbe and livenessProbe to every container.",
    ),
    ResourceValidationPolicy(
        name="startup-probe-no-initial-delay",
        description="Startup probes poll from the start instead of waiting (seed errata 1).",
        validate=_resource_validation(check_startup_probe_no_initial_delay),
        enforcement_level=ADVISORY,
        remediation_steps="Set startupProbe.initialDelaySeconds to 0; poll every 1-2 s with a failure budget.",
    ),
    ResourceValidationPolicy(
        name="resources-required",
        description="Every container requests and limits CPU and memory (seed: resource management).",
        validate=_resource_validation(check_resources_required),
        enforcement_level=MANDATORY,
        remediation_steps="Set resources.requests and resources.limits for cpu and memory.",
    ),
    ResourceValidationPolicy(
        name="pod-security-restricted",
        description="Pods meet the Pod Security Standards 'restricted' profile and the baseline beneath it "
        "(ported from kubernetes/pod-security-admission).",
        validate=_resource_validation(check_pod_security_restricted),
        enforcement_level=MANDATORY,
        remediation_steps="Run as non-root with allowPrivilegeEscalation false, drop ALL capabilities, "
        "seccomp RuntimeDefault, and only configMap/secret/emptyDir/projected/PVC-style volumes.",
    ),
    StackValidationPolicy(
        name="network-policy-coverage",
        description="Every namespace with workloads has a default-deny NetworkPolicy and allows DNS egress to "
        "kube-dns on UDP and TCP 53 (seed: network isolation; errata 2).",
        validate=_stack_validation(check_network_policy_coverage),
        enforcement_level=MANDATORY,
        remediation_steps="Add a default-deny policy (podSelector {}, Ingress+Egress) and an egress rule to "
        "kube-system/k8s-app=kube-dns on UDP and TCP 53.",
    ),
    ResourceValidationPolicy(
        name="no-plaintext-secrets",
        description="No credential-like env var or ConfigMap key carries a literal value; credentials come from "
        "Secrets (seed: secret management; errata 6).",
        validate=_resource_validation(check_no_plaintext_secrets),
        enforcement_level=MANDATORY,
        remediation_steps="Move the value into a Secret and use valueFrom.secretKeyRef.",
    ),
    StackValidationPolicy(
        name="hpa-owns-replicas",
        description="A workload scaled by a HorizontalPodAutoscaler leaves spec.replicas unset.",
        validate=_stack_validation(check_hpa_owns_replicas),
        enforcement_level=MANDATORY,
        remediation_steps="Remove spec.replicas from the Deployment the HPA targets.",
    ),
    StackValidationPolicy(
        name="disruption-budget",
        description="A Deployment or StatefulSet running two or more pods (replicas or HPA minimum) has a "
        "PodDisruptionBudget selecting them.",
        validate=_stack_validation(check_disruption_budget),
        enforcement_level=MANDATORY,
        remediation_steps="Add a PodDisruptionBudget with maxUnavailable 1 and the workload's selector labels.",
    ),
    ResourceValidationPolicy(
        name="image-pinned-by-digest",
        description="Container images are pinned by @sha256 digest; blocking in the stacks of mandatoryStacks "
        "(seed errata 5).",
        validate=_image_pin_validation(check_image_pinned_by_digest),
        enforcement_level=MANDATORY,
        config_schema=IMAGE_PIN_CONFIG,
        remediation_steps="Deploy repo@sha256:<digest> (the built image's repo_digest or imageRef).",
    ),
    ResourceValidationPolicy(
        name="image-pinned-by-digest-advisory",
        description="Container images should be pinned by @sha256 digest (warning in stacks outside "
        "mandatoryStacks; keep its mandatoryStacks equal to image-pinned-by-digest's).",
        validate=_image_pin_validation(check_image_pinned_by_digest_advisory),
        enforcement_level=ADVISORY,
        config_schema=IMAGE_PIN_CONFIG,
        remediation_steps="Deploy repo@sha256:<digest> (the built image's repo_digest or imageRef).",
    ),
]
