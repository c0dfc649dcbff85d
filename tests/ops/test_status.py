"""`make status` (ops.status): its rows about the pods and the route, from what the API server returns."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes.client import (
    V1Ingress,
    V1IngressLoadBalancerIngress,
    V1IngressLoadBalancerStatus,
    V1IngressStatus,
    V1ObjectMeta,
)
from kubernetes.client.exceptions import ApiException

from components.stack_checks import stack_settings
from ops import status
from tests.ops.diagnose.builders import IMAGE, NS, pod
from tests.ops.diagnose.test_route import condition, http_route


class Objects:
    """The custom-object and networking reads ops.status makes, answered from a dict as the API server would."""

    def __init__(self, objects: dict[tuple[str, ...], Any]) -> None:
        self.objects = objects
        self.asked: list[tuple[str, ...]] = []

    def _get(self, key: tuple[str, ...]) -> Any:
        self.asked.append(key)
        if key not in self.objects:
            raise ApiException(status=404, reason="Not Found")
        return self.objects[key]

    def get_namespaced_custom_object(self, group: str, version: str, ns: str, plural: str, name: str, **_: Any) -> Any:
        return self._get((f"{group}/{version}", ns, plural, name))

    def read_namespaced_ingress(self, name: str, ns: str, **_: Any) -> Any:
        return self._get(("networking.k8s.io/v1", ns, "ingresses", name))


@pytest.fixture
def cluster(monkeypatch: pytest.MonkeyPatch) -> Objects:
    from kubernetes import client

    objects = Objects({})
    monkeypatch.setattr(client, "CustomObjectsApi", lambda _api: objects)
    monkeypatch.setattr(client, "NetworkingV1Api", lambda _api: objects)
    return objects


def test_the_route_rows_show_the_gateway_and_our_route(cluster: Objects) -> None:
    gateway = {
        "metadata": {"name": "wal-service", "namespace": "nginx-gateway"},
        "status": {"conditions": [condition("Programmed")], "addresses": [{"type": "IPAddress", "value": "10.96.0.9"}]},
    }
    api = "gateway.networking.k8s.io/v1"
    cluster.objects = {
        (api, "nginx-gateway", "gateways", "wal-service"): gateway,
        (api, NS, "httproutes", "wal-service"): http_route(),
    }
    assert status.route_rows(stack_settings("dev"), None, NS) == [
        "gateway      Gateway nginx-gateway/wal-service programmed, address 10.96.0.9",
        "route        accepted by Gateway nginx-gateway/wal-service, backend resolved",
    ]
    # Read where the stack's config puts them: the Gateway in its namespace, the route in ours.
    assert cluster.asked == [(api, "nginx-gateway", "gateways", "wal-service"), (api, NS, "httproutes", "wal-service")]


def test_before_the_first_up_the_rows_say_what_is_missing(cluster: Objects) -> None:
    assert status.route_rows(stack_settings("dev"), None, NS) == [
        "gateway      no Gateway nginx-gateway/wal-service",
        "route        no HTTPRoute wal-service",
    ]


def test_an_ingress_stack_shows_the_ingress_address(cluster: Objects) -> None:
    prod = stack_settings("prod")
    assert prod.routing == "ingress"
    assert status.route_rows(prod, None, "wal-service") == ["ingress      no address"]
    ingress = V1Ingress(
        metadata=V1ObjectMeta(name="wal-service-ingress", namespace="wal-service"),
        status=V1IngressStatus(
            load_balancer=V1IngressLoadBalancerStatus(ingress=[V1IngressLoadBalancerIngress(ip="203.0.113.7")])
        ),
    )
    cluster.objects = {("networking.k8s.io/v1", "wal-service", "ingresses", "wal-service-ingress"): ingress}
    assert status.route_rows(prod, None, "wal-service") == ["ingress      203.0.113.7"]


def test_the_pod_rows_read_like_kubectl_get_pods_with_the_image() -> None:
    rows = status.pod_rows(
        [pod("wal-service-5d8f7c9b6-abcde"), pod("wal-service-5d8f7c9b6-fghij", ready=False, restarts=2)]
    )
    image = IMAGE.rsplit("/", 1)[-1][:40]
    assert rows == [
        f"{'POD':<40} {'READY':<6} {'STATUS':<18} {'RESTARTS':<8} IMAGE",
        f"{'wal-service-5d8f7c9b6-abcde':<40} 1/1    {'Running':<18} {0:<8} {image}",
        f"{'wal-service-5d8f7c9b6-fghij':<40} 0/1    {'Running':<18} {2:<8} {image}",
    ]
