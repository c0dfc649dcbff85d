"""Health probes: every long-running container says when it is started, ready and alive."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import ADVISORY, PROBES, Report, as_map, containers, declare, dig, on_each_resource, pod_template

PROBES_URL = "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/"
# Long-running workloads: probes apply to them (a Job's pods are meant to exit).
_SERVING_WORKLOADS = frozenset(
    {"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet", "kubernetes:apps/v1:DaemonSet"}
)


def check_probes_required(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    if resource_type not in _SERVING_WORKLOADS:
        return
    template = pod_template(resource_type, props)
    if template is None:
        return
    found = list(containers(template.spec, "containers"))
    if not found:
        report("the pod template has no containers")
    for where, container in found:
        missing = [probe for probe in PROBES if not as_map(container.get(probe))]
        if missing:
            report(
                f"{where} has no {', '.join(missing)}: without them Kubernetes sends traffic to pods that cannot "
                "serve it and never restarts a hung one. Give every container a startup probe (fast polling, a "
                "failure budget for the slowest start), a readiness probe (traffic) and a liveness probe (restarts)."
            )


probes_required = declare(
    "probes-required",
    on_each_resource(check_probes_required),
    description="Every container of a Deployment, StatefulSet or DaemonSet has startup, readiness and liveness "
    "probes, so traffic reaches only pods that can serve it and hung pods are restarted.",
    remediation="Add startupProbe, readinessProbe and livenessProbe to every container.",
    url=PROBES_URL,
    severity=Severity.MEDIUM,
    tags=["availability", "probes"],
)


def check_startup_probe_no_initial_delay(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    template = pod_template(resource_type, props)
    if template is None:
        return
    for where, container in containers(template.spec):
        delay = dig(container, "startupProbe", "initialDelaySeconds")
        if isinstance(delay, int | float) and delay > 0:
            report(
                f"{where}: startupProbe.initialDelaySeconds is {delay:g}, so no pod is Ready before that even when "
                "the app is up at once, and every rollout waits for it. Set it to 0, poll every 1-2 s and size "
                "failureThreshold for the slowest start."
            )


startup_probe_no_initial_delay = declare(
    "startup-probe-no-initial-delay",
    on_each_resource(check_startup_probe_no_initial_delay),
    description="Startup probes poll from the start instead of waiting a fixed delay, which would hold back "
    "readiness of every pod, however fast it starts.",
    remediation="Set startupProbe.initialDelaySeconds to 0; poll every 1-2 s with a failure budget.",
    url=PROBES_URL,
    severity=Severity.LOW,
    tags=["availability", "probes"],
    level=ADVISORY,
)
