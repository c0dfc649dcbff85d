"""Scaling and disruption: the HPA owns the replica count, and two or more pods get a disruption budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from .common import (
    StackReport,
    StackResource,
    as_map,
    as_seq,
    declare,
    dig,
    name_of,
    namespace_of,
    on_the_stack,
    selector_matches,
)

_SCALABLE = frozenset({"kubernetes:apps/v1:Deployment", "kubernetes:apps/v1:StatefulSet"})
_HPA_TYPES = frozenset(
    {
        "kubernetes:autoscaling/v2:HorizontalPodAutoscaler",
        "kubernetes:autoscaling/v1:HorizontalPodAutoscaler",
    }
)
_PDB = "kubernetes:policy/v1:PodDisruptionBudget"


def _hpa_targets(resources: Sequence[StackResource]) -> dict[tuple[str, str, str], StackResource]:
    targets = {}
    for resource in resources:
        if resource.resource_type in _HPA_TYPES:
            ref = as_map(dig(resource.props, "spec", "scaleTargetRef"))
            key = (str(ref.get("kind")), namespace_of(resource.props), str(ref.get("name")))
            targets[key] = resource
    return targets


def _kind(resource_type: str) -> str:
    return resource_type.rsplit(":", 1)[-1]


def _applies_replicas(props: Mapping[str, Any]) -> bool:
    """Whether the program sets spec.replicas, in inputs and in outputs alike.

    A stack policy gets outputs once a stack is deployed (pulumi pkg/resource/deploy/step_generator.go,
    AnalyzeResources), and a live Deployment always holds spec.replicas: the API server's default or the
    HPA's choice. Who set it is in metadata.managedFields: pulumi-kubernetes applies server-side
    (operation Apply, on the object itself), the HPA writes through the scale subresource.
    """
    managed = as_seq(dig(props, "metadata", "managedFields"))
    if not managed:  # inputs (a preview of new resources, or the render)
        return dig(props, "spec", "replicas") is not None
    return any(
        as_map(entry).get("operation") == "Apply"
        and not as_map(entry).get("subresource")
        and "f:replicas" in as_map(dig(entry, "fieldsV1", "f:spec"))
        for entry in managed
    )


def check_hpa_owns_replicas(resources: Sequence[StackResource], report: StackReport) -> None:
    targets = _hpa_targets(resources)
    for resource in resources:
        if resource.resource_type not in _SCALABLE:
            continue
        key = (_kind(resource.resource_type), namespace_of(resource.props), name_of(resource.props))
        hpa = targets.get(key)
        replicas = dig(resource.props, "spec", "replicas")
        if hpa is not None and _applies_replicas(resource.props):
            report(
                f"{resource.name} sets spec.replicas={replicas} but HorizontalPodAutoscaler {hpa.name} scales it; "
                "every `pulumi up` would reset the HPA's choice. Leave spec.replicas unset.",
                resource.urn,
            )


hpa_owns_replicas = declare(
    "hpa-owns-replicas",
    on_the_stack(check_hpa_owns_replicas),
    description="A workload scaled by a HorizontalPodAutoscaler leaves spec.replicas unset; otherwise every "
    "deployment resets the replica count the HPA chose.",
    remediation="Remove spec.replicas from the Deployment the HPA targets.",
    url="https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/",
    severity=Severity.MEDIUM,
    tags=["scaling", "availability"],
)


def _min_pods(resource: StackResource, targets: Mapping[tuple[str, str, str], StackResource]) -> int:
    key = (_kind(resource.resource_type), namespace_of(resource.props), name_of(resource.props))
    hpa = targets.get(key)
    if hpa is not None:
        minimum = dig(hpa.props, "spec", "minReplicas")
        return int(minimum) if isinstance(minimum, int | float) else 1
    replicas = dig(resource.props, "spec", "replicas")
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
        namespace = namespace_of(resource.props)
        labels = as_map(dig(resource.props, "spec", "template", "metadata", "labels"))
        matching = [
            b
            for b in budgets
            if namespace_of(b.props) == namespace
            and dig(b.props, "spec", "selector") is not None
            and selector_matches(dig(b.props, "spec", "selector"), labels)
        ]
        if not matching:
            report(
                f"{resource.name} runs at least {pods} pods but no PodDisruptionBudget in {namespace!r} selects "
                "them; a node drain may evict them all at once. Add a PDB (maxUnavailable: 1, "
                "unhealthyPodEvictionPolicy: AlwaysAllow) whose selector matches the pod labels.",
                resource.urn,
            )


disruption_budget = declare(
    "disruption-budget",
    on_the_stack(check_disruption_budget),
    description="A Deployment or StatefulSet running two or more pods (replicas or HPA minimum) has a "
    "PodDisruptionBudget selecting them, so a node drain cannot evict them all at once.",
    remediation="Add a PodDisruptionBudget with maxUnavailable 1 and the workload's selector labels.",
    url="https://kubernetes.io/docs/tasks/run-application/configure-pdb/",
    severity=Severity.MEDIUM,
    tags=["scaling", "availability"],
)
