"""NamespaceQuota: a ResourceQuota that fits the stack at its worst moment, and a LimitRange whose
defaults are the service container's own values.

What a pod costs the quota is its *effective* request and limit per resource: the larger of the sum over
its app containers and the largest single init container, since init containers run one at a time
(kubernetes/kubernetes staging/src/k8s.io/component-helpers/resource/helpers.go PodRequests/PodLimits,
charged by pkg/quota/v1/evaluator/core/pods.go PodUsageFunc;
https://kubernetes.io/docs/concepts/resource-management/effective-pod-requests-limits/).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.core.v1 import (
    LimitRangeItemArgs,
    LimitRangeSpecArgs,
    ResourceQuotaSpecArgs,
    ResourceRequirementsArgs,
)
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.ownership import owned
from components.validators import amount

# {"requests": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "128Mi"}, "limits": {...}}: a container's
# `resources` field.
Requirements = Mapping[str, Mapping[str, str]]
# Every container sets all three, and the quota bounds all three: logs and emptyDirs fill the node's disk as surely
# as a leak fills its memory.
COMPUTE = ("cpu", "memory", "ephemeral-storage")
KINDS = ("requests", "limits")
MIB = 2**20


@dataclass(frozen=True)
class Footprint:
    """Requests and limits as numbers (cpu in cores, memory and ephemeral storage in bytes), keyed like a quota:
    requests.cpu..."""

    amounts: Mapping[str, Decimal]
    """`requests.<resource>` and `limits.<resource>` for each of COMPUTE."""

    def __getitem__(self, key: str) -> Decimal:
        return self.amounts[key]

    def times(self, count: int) -> Footprint:
        return Footprint({key: value * count for key, value in self.amounts.items()})

    def plus(self, other: Footprint) -> Footprint:
        return Footprint({key: value + other[key] for key, value in self.amounts.items()})


def _amounts(requirements: Requirements) -> Footprint:
    return Footprint({f"{kind}.{res}": amount(requirements[kind][res]) for kind in KINDS for res in COMPUTE})


def requirements_args(requirements: Requirements) -> ResourceRequirementsArgs:
    """A container's `resources` from its requests and limits."""
    return ResourceRequirementsArgs(requests=dict(requirements["requests"]), limits=dict(requirements["limits"]))


def pod_footprint(containers: Sequence[Requirements], init_containers: Sequence[Requirements] = ()) -> Footprint:
    """A pod's effective requests and limits: max(sum of app containers, largest init container)."""
    total = Footprint({f"{kind}.{res}": Decimal(0) for kind in KINDS for res in COMPUTE})
    for container in containers:
        total = total.plus(_amounts(container))
    for init in init_containers:
        single = _amounts(init)
        total = Footprint({key: max(value, single[key]) for key, value in total.amounts.items()})
    return total


@dataclass(frozen=True)
class StackPods:
    """Every pod of the stack at its worst moment: the service at its most pods plus the rollout surge,
    and the one-off pods beside it (the in-cluster database)."""

    service: Footprint
    """One service pod."""
    service_pods: int
    """Service pods at once: maxReplicas (or replicas) plus the rollout's maxSurge."""
    others: Mapping[str, Footprint]
    """One-off pods by name, e.g. {"database": ...}; empty when the database is external."""

    @property
    def pods(self) -> int:
        return self.service_pods + len(self.others)

    @property
    def total(self) -> Footprint:
        total = self.service.times(self.service_pods)
        for footprint in self.others.values():
            total = total.plus(footprint)
        return total


def cpu_quantity(cores: Decimal) -> str:
    """Whole cores as "3", otherwise millicores rounded up ("2500m")."""
    return str(int(cores)) if cores == int(cores) else f"{math.ceil(cores * 1000)}m"


def memory_quantity(size: Decimal) -> str:
    """Mebibytes rounded up ("1920Mi"), for memory and ephemeral storage alike."""
    return f"{math.ceil(size / MIB)}Mi"


def quantity(resource: str, value: Decimal) -> str:
    return cpu_quantity(value) if resource.endswith("cpu") else memory_quantity(value)


def with_headroom(value: Decimal, percent: int) -> Decimal:
    return value * (100 + percent) / 100


def quota_hard(need: StackPods, headroom_percent: int, caps: Mapping[str, str] | None = None) -> dict[str, str]:
    """ResourceQuota spec.hard: each resource the stack's need plus headroom, unless a cap is given
    for it ("cpu" or "memory", applied to both requests and limits; ephemeral storage has no cap key)."""
    caps = caps or {}
    total = need.total
    hard = {"pods": str(math.ceil(with_headroom(Decimal(need.pods), headroom_percent)))}
    for kind in KINDS:
        for res in COMPUTE:
            key = f"{kind}.{res}"
            hard[key] = caps.get(res) or quantity(res, with_headroom(total[key], headroom_percent))
    return hard


def largest_limits(requirements: Sequence[Requirements]) -> dict[str, str]:
    """The largest limit per resource among containers: the LimitRange's per-container max."""
    return {res: max((container["limits"][res] for container in requirements), key=amount) for res in COMPUTE}


@dataclass(frozen=True)
class NamespaceQuotaArgs:
    namespace: pulumi.Input[str]
    """Namespace to bound (an AppNamespace's output, so it exists first)."""
    labels: dict[str, str]
    """Standard app.kubernetes.io labels of the stack."""
    hard: Mapping[str, str]
    """ResourceQuota spec.hard: pods, requests.cpu/memory/ephemeral-storage, limits.cpu/memory/ephemeral-storage."""
    container_default: Requirements
    """LimitRange default and defaultRequest for a container that sets none: the service container's values."""
    container_max: Mapping[str, str]
    """LimitRange max per container: the largest limit among the containers the stack creates."""


class NamespaceQuota(pulumi.ComponentResource):
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: NamespaceQuotaArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:NamespaceQuota", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def meta(object_name: str) -> ObjectMetaArgs:
            return ObjectMetaArgs(name=object_name, namespace=args.namespace, labels=args.labels, annotations=owned())

        quota = k8s.core.v1.ResourceQuota(
            f"{name}-quota",
            metadata=meta("wal-service-quota"),
            spec=ResourceQuotaSpecArgs(hard=dict(args.hard)),
            opts=child,
        )
        # Quota on limits.* refuses any pod that sets none; the LimitRange fills them in with the service's
        # own values (LimitRanger admits init containers the same way: plugin/pkg/admission/limitranger).
        limits = k8s.core.v1.LimitRange(
            f"{name}-limits",
            metadata=meta("wal-service-limits"),
            spec=LimitRangeSpecArgs(
                limits=[
                    LimitRangeItemArgs(
                        type="Container",
                        default=dict(args.container_default["limits"]),
                        default_request=dict(args.container_default["requests"]),
                        max=dict(args.container_max),
                    )
                ]
            ),
            opts=child,
        )
        # Resolves once both exist: pods created after it are admitted (and defaulted) by them.
        self.namespace = pulumi.Output.all(quota.metadata.namespace, limits.metadata.namespace).apply(
            lambda names: str(names[0])
        )
        self.register_outputs({"namespace": self.namespace})
