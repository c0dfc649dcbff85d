"""Layer 2, service: the selector, the EndpointSlices and the Ready pods agree."""

from __future__ import annotations

from kubernetes.client import (
    V1Endpoint,
    V1EndpointConditions,
    V1EndpointSlice,
    V1ObjectMeta,
    V1ObjectReference,
    V1Service,
    V1ServiceSpec,
)

from ops.diagnose import service as d
from tests.ops.diagnose.builders import CTX, NS, SELECTOR, pod


def service(selector: dict[str, str]) -> V1Service:
    return V1Service(metadata=V1ObjectMeta(name="wal-service", namespace=NS), spec=V1ServiceSpec(selector=selector))


def slice_(*endpoints: tuple[str, bool]) -> V1EndpointSlice:
    return V1EndpointSlice(
        address_type="IPv4",
        metadata=V1ObjectMeta(
            name="wal-service-7xk2p",
            namespace=NS,
            labels={
                "kubernetes.io/service-name": "wal-service",
                "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            },
        ),
        endpoints=[
            V1Endpoint(
                addresses=[f"10.244.0.{i + 5}"],
                conditions=V1EndpointConditions(ready=up, serving=up),
                target_ref=V1ObjectReference(kind="Pod", name=name, namespace=NS),
            )
            for i, (name, up) in enumerate(endpoints)
        ],
    )


def test_endpoints_match_the_ready_pods() -> None:
    check = d.check_endpoints(service(SELECTOR), [slice_(("a", True), ("b", True))], [pod("a"), pod("b")], CTX)
    assert check.line() == "PASS service/endpoints: 2 ready endpoints, matching the selected pods"


def test_selector_mismatch_is_spotted() -> None:
    wrong = {**SELECTOR, "app.kubernetes.io/instance": "wal-service-staging"}
    check = d.check_endpoints(service(wrong), [], [pod("a")], CTX)
    assert check.detail == (
        "selector app.kubernetes.io/instance=wal-service-staging,app.kubernetes.io/name=wal-service matches none "
        f"of the 1 pods in {NS}"
    )
    assert check.cause == (
        "selector mismatch: the pods carry app.kubernetes.io/instance=wal-service-dev, "
        "app.kubernetes.io/name=wal-service, app.kubernetes.io/version=3f2a9c1d7e4b"
    )


def test_endpoints_of_unknown_readiness_count_as_ready() -> None:
    """The API says a nil `ready` condition means unknown, to be treated as ready."""
    unknown = slice_(("a", True), ("b", True))
    unknown.endpoints[0].conditions = None
    unknown.endpoints[1].conditions = V1EndpointConditions(ready=None)
    check = d.check_endpoints(service(SELECTOR), [unknown], [pod("a"), pod("b")], CTX)
    assert check.line() == "PASS service/endpoints: 2 ready endpoints, matching the selected pods"


def test_a_ready_pod_missing_from_the_endpoints_is_spotted() -> None:
    check = d.check_endpoints(service(SELECTOR), [slice_(("a", True))], [pod("a"), pod("b")], CTX)
    assert not check.ok and check.detail == "endpoints ['a'] differ from the Ready selected pods ['a', 'b']"


def test_no_ready_endpoints_points_at_the_pods() -> None:
    check = d.check_endpoints(service(SELECTOR), [slice_(("a", False))], [pod("a", ready=False)], CTX)
    assert check.detail == "no ready endpoints (1 not ready, 1 selected pods)"
