"""Container resources: every container requests and limits CPU, memory and ephemeral storage."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Severity

from .common import Report, as_map, containers, declare, on_each_resource, pod_template

# Ephemeral storage too: without a limit one container's logs or emptyDirs can fill its node's disk, and a node
# under DiskPressure evicts pods and refuses new ones, not only the one that filled it.
RESOURCES = ("cpu", "memory", "ephemeral-storage")


def check_resources_required(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    template = pod_template(resource_type, props)
    if template is None:
        return
    for where, container in containers(template.spec, "initContainers", "containers"):
        resources = as_map(container.get("resources"))
        missing = [
            f"{section}.{name}"
            for section in ("requests", "limits")
            for name in RESOURCES
            if as_map(resources.get(section)).get(name) in (None, "")
        ]
        if missing:
            report(
                f"{where} sets no resources.{', resources.'.join(missing)}. Requests let the scheduler place the "
                "pod; limits stop one leak or one runaway log from starving the node. Set conservative requests "
                "and reasonable limits for CPU, memory and ephemeral-storage."
            )


resources_required = declare(
    "resources-required",
    on_each_resource(check_resources_required),
    description="Every container requests and limits CPU, memory and ephemeral storage: requests let the "
    "scheduler place pods, limits keep one container from starving its node of CPU, memory or disk.",
    remediation="Set resources.requests and resources.limits for cpu, memory and ephemeral-storage.",
    url="https://kubernetes.io/docs/concepts/configuration/manage-resources-containers/",
    severity=Severity.MEDIUM,
    tags=["resources", "reliability"],
)
