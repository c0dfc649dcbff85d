"""API objects shaped as the API server returns them, for the diagnosis tests: a pod of the dev stack, and the
stack's Ctx for ingress (CTX) and gateway (GW) routing."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from kubernetes.client import (
    V1Container,
    V1ContainerState,
    V1ContainerStateRunning,
    V1ContainerStatus,
    V1HTTPGetAction,
    V1ObjectMeta,
    V1Pod,
    V1PodCondition,
    V1PodSpec,
    V1PodStatus,
    V1Probe,
)

from ops.diagnose.checks import Ctx

NS = "wal-service-dev"
CTX = Ctx(
    stack="dev",
    context="kind-wal-service-cluster",
    namespace=NS,
    host="dev.wal-service.local",
    cluster="wal-service-cluster",
    registry_name="kind-registry",
    registry_port=6000,
)
SELECTOR = {"app.kubernetes.io/name": "wal-service", "app.kubernetes.io/instance": "wal-service-dev"}
LABELS = {**SELECTOR, "app.kubernetes.io/version": "3f2a9c1d7e4b", "pod-template-hash": "5d8f7c9b6"}
IMAGE = "kind-registry:5000/wal-service@sha256:" + "ab" * 32
NOW = datetime(2026, 11, 3, 10, 0, tzinfo=UTC)
GW = dataclasses.replace(CTX, routing="gateway", gateway_namespace="nginx-gateway", gateway_name="wal-service")


def probe(path: str, period: int, failures: int) -> V1Probe:
    return V1Probe(
        http_get=V1HTTPGetAction(path=path, port="http", scheme="HTTP"),
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=2,
        success_threshold=1,
    )


def pod(
    name: str,
    *,
    ready: bool = True,
    state: V1ContainerState | None = None,
    last: V1ContainerState | None = None,
    restarts: int = 0,
    labels: dict[str, str] | None = None,
    phase: str = "Running",
    scheduled: bool = True,
) -> V1Pod:
    conditions = [
        V1PodCondition(
            type="PodScheduled", status="True" if scheduled else "False", reason=None if scheduled else "Unschedulable"
        ),
    ]
    if scheduled:
        conditions += [
            V1PodCondition(type="Initialized", status="True"),
            V1PodCondition(type="ContainersReady", status=str(ready)),
            V1PodCondition(type="Ready", status=str(ready), reason=None if ready else "ContainersNotReady"),
        ]
    statuses = (
        [
            V1ContainerStatus(
                name="wal-service",
                image=IMAGE,
                image_id="",
                ready=ready,
                restart_count=restarts,
                started=ready,
                state=state or V1ContainerState(running=V1ContainerStateRunning(started_at=NOW)),
                last_state=last or V1ContainerState(),
            )
        ]
        if scheduled
        else None
    )
    return V1Pod(
        api_version="v1",
        kind="Pod",
        metadata=V1ObjectMeta(name=name, namespace=NS, labels=labels or LABELS),
        spec=V1PodSpec(
            containers=[
                V1Container(
                    name="wal-service",
                    image=IMAGE,
                    startup_probe=probe("/api/v1/health", 2, 60),
                    readiness_probe=probe("/api/v1/ready", 5, 2),
                    liveness_probe=probe("/api/v1/health", 10, 3),
                )
            ]
        ),
        status=V1PodStatus(phase=phase, conditions=conditions, container_statuses=statuses),
    )
