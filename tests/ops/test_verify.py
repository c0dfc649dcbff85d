"""`make verify` (ops.verify.run_checks) on the dev stack as deployed: what it asks the API server and the route.

The cluster is the program's own objects (its NetworkPolicies from the dev stack's mock run) plus the state
a healthy rollout reaches; the route answers as the service does. Every layer must pass, in order, and
each request must go where a user's would.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes.client import (
    ApiClient,
    V1Deployment,
    V1DeploymentSpec,
    V1DeploymentStatus,
    V1Endpoint,
    V1EndpointConditions,
    V1EndpointSlice,
    V1LabelSelector,
    V1ObjectMeta,
    V1ObjectReference,
    V1PodTemplateSpec,
    V1Service,
    V1ServiceSpec,
)
from kubernetes.client.exceptions import ApiException

from ops import stack as stack_mod
from ops import verify
from ops.httpcheck import HttpResult
from tests.ops.diagnose.builders import NS, SELECTOR, pod
from tests.ops.diagnose.test_route import condition, http_route

if TYPE_CHECKING:
    from tests.conftest import StackRun

PODS = ("wal-service-5d8f7c9b6-abcde", "wal-service-5d8f7c9b6-fghij")
GATEWAY_API = ("gateway.networking.k8s.io", "v1")
TOKEN = "wal_" + "t" * 40


class Cluster:
    """The reads ops.verify makes, answered from the objects of a healthy dev stack."""

    def __init__(self, policies: list[Any]) -> None:
        self.asked: list[str] = []
        self.deployment = V1Deployment(
            metadata=V1ObjectMeta(name="wal-service", namespace=NS, generation=3),
            spec=V1DeploymentSpec(
                replicas=2, selector=V1LabelSelector(match_labels=SELECTOR), template=V1PodTemplateSpec()
            ),
            status=V1DeploymentStatus(observed_generation=3, replicas=2, updated_replicas=2, available_replicas=2),
        )
        self.pods = [pod(name) for name in PODS]
        self.policies = policies
        gateway = {
            "metadata": {"name": "wal-service", "namespace": "nginx-gateway"},
            "status": {
                "conditions": [condition("Programmed")],
                "addresses": [{"type": "IPAddress", "value": "10.96.0.9"}],
            },
        }
        self.custom = {
            ("nginx-gateway", "gateways", "wal-service"): gateway,
            (NS, "httproutes", "wal-service"): http_route(),
        }

    def _note(self, what: str, namespace: str = "") -> None:
        self.asked.append(f"{what} {namespace}".strip())

    # AppsV1Api
    def read_namespaced_deployment(self, name: str, namespace: str, **_: Any) -> Any:
        self._note(f"deployment/{name}", namespace)
        return self.deployment

    # CoreV1Api
    def list_namespaced_pod(self, namespace: str, **_: Any) -> Any:
        self._note("pods", namespace)
        return type("PodList", (), {"items": self.pods if namespace == NS else []})

    def list_namespaced_event(self, namespace: str, **_: Any) -> Any:
        self._note("events", namespace)
        return type("EventList", (), {"items": []})

    def read_namespaced_service(self, name: str, namespace: str, **_: Any) -> Any:
        self._note(f"service/{name}", namespace)
        return V1Service(metadata=V1ObjectMeta(name=name, namespace=namespace), spec=V1ServiceSpec(selector=SELECTOR))

    # DiscoveryV1Api
    def list_namespaced_endpoint_slice(self, namespace: str, label_selector: str = "", **_: Any) -> Any:
        self._note(f"endpointslices {label_selector}", namespace)
        endpoints = [
            V1Endpoint(
                addresses=["10.244.0.9"],
                conditions=V1EndpointConditions(ready=True),
                target_ref=V1ObjectReference(kind="Pod", name=name),
            )
            for name in PODS
        ]
        labels = {"kubernetes.io/service-name": "wal-service"}
        meta = V1ObjectMeta(name="wal-service-x1", namespace=namespace, labels=labels)
        return type(
            "SliceList", (), {"items": [V1EndpointSlice(address_type="IPv4", endpoints=endpoints, metadata=meta)]}
        )

    # NetworkingV1Api
    def list_ingress_for_all_namespaces(self, **_: Any) -> Any:
        self._note("ingresses")
        return type("IngressList", (), {"items": []})

    def list_namespaced_network_policy(self, namespace: str, **_: Any) -> Any:
        self._note("networkpolicies", namespace)
        return type("PolicyList", (), {"items": self.policies})

    # CustomObjectsApi
    def get_namespaced_custom_object(self, group: str, version: str, ns: str, plural: str, name: str, **_: Any) -> Any:
        assert (group, version) == GATEWAY_API
        self._note(f"{plural}/{name}", ns)
        if (ns, plural, name) not in self.custom:
            raise ApiException(status=404, reason="Not Found")
        return self.custom[(ns, plural, name)]

    def list_cluster_custom_object(self, group: str, version: str, plural: str, **_: Any) -> Any:
        assert (group, version) == GATEWAY_API
        self._note(plural)
        return {"items": [v for (_, kind, _), v in self.custom.items() if kind == plural]}


@pytest.fixture
def cluster(mockruns: Any, monkeypatch: pytest.MonkeyPatch) -> Cluster:
    from kubernetes import client

    run: StackRun = mockruns.get("dev")
    api = ApiClient()
    policies = [
        api.deserialize(json.dumps(o.body), "V1NetworkPolicy", "application/json") for o in run.objects("NetworkPolicy")
    ]
    for policy in policies:
        policy.metadata.namespace = NS
    fake = Cluster(policies)
    for name in ("CoreV1Api", "AppsV1Api", "NetworkingV1Api", "DiscoveryV1Api", "CustomObjectsApi"):
        monkeypatch.setattr(client, name, lambda _api: fake)
    monkeypatch.setattr(verify, "api_client", lambda settings, context: ("api", settings.stack, context))
    outputs = {"namespace": NS, "kubeContext": "kind-wal-service-cluster", "apiToken": "[secret]"}
    monkeypatch.setattr(stack_mod, "outputs", lambda stack, env: outputs)
    monkeypatch.setattr(stack_mod, "api_token", lambda stack, out, env: (TOKEN, "the stack's apiToken output"))
    monkeypatch.setattr(verify, "resolve", lambda host: ["127.0.0.1"] if host == "dev.wal-service.local" else None)
    return fake


@pytest.fixture
def requests(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """What went over HTTP: through a port-forward to a pod, and through the route from the host."""
    sent: list[tuple[Any, ...]] = []

    def forward(core: Any, pod_name: str, namespace: str, path: str) -> tuple[bool, str, str]:
        sent.append(("port-forward", pod_name, namespace, path))
        return True, "200 in 2 ms", ""

    def get(url: str, host_header: str | None = None, **_: Any) -> HttpResult:
        sent.append(("GET", url, host_header))
        return HttpResult(True, 200, "200 in 3 ms")

    def request(method: str, url: str, host_header: str | None = None, headers: Any = None, **_: Any) -> HttpResult:
        sent.append((method, url, host_header, dict(headers or {})))
        if method == "POST":
            return HttpResult(False, 401, "401 in 2 ms", "", "unauthorized")
        return HttpResult(True, 200, "200 in 4 ms")

    monkeypatch.setattr(verify, "_port_forward_get", forward)
    monkeypatch.setattr(verify, "http_get", get)
    monkeypatch.setattr(verify, "http_request", request)
    return sent


def test_a_healthy_dev_stack_passes_every_layer_in_order(cluster: Cluster, requests: list[tuple[Any, ...]]) -> None:
    checks = verify.run_checks("dev")
    failed = [c.line() for c in checks if not c.ok]
    assert not failed, failed
    assert [f"{c.layer}/{c.name}" for c in checks] == [
        "pods/rollout",
        "pods/ready",
        "service/endpoints",
        "service/port-forward",
        "gateway/programmed",
        "gateway/route",
        "gateway/host",
        "gateway/http",
        "gateway/anonymous-append",
        "gateway/api-key",
        "dns/host",
        # The program's own NetworkPolicies admit what verify expects: the data plane in, DNS out.
        "network/default-deny",
        "network/ingress-path",
        "network/dns-egress",
    ]


def test_verify_asks_the_stacks_own_objects_where_the_stack_put_them(cluster: Cluster, requests: list[Any]) -> None:
    verify.run_checks("dev")
    assert cluster.asked == [
        f"deployment/wal-service {NS}",
        f"pods {NS}",
        f"events {NS}",
        f"service/wal-service {NS}",
        f"endpointslices kubernetes.io/service-name=wal-service {NS}",
        "ingresses",
        "gateways/wal-service nginx-gateway",
        f"httproutes/wal-service {NS}",
        "httproutes",
        f"networkpolicies {NS}",
    ]


def test_verify_goes_through_the_route_as_a_user_would(cluster: Cluster, requests: list[tuple[Any, ...]]) -> None:
    verify.run_checks("dev")
    probe = "http://127.0.0.1:80/api/v1/logs/wal-verify/records"
    assert requests == [
        # The first ready endpoint, straight to the pod.
        ("port-forward", PODS[0], NS, "/api/v1/health"),
        # Then from the host: kind maps the route to 127.0.0.1, the Host header picks our route.
        ("GET", "http://127.0.0.1:80/api/v1/health", "dev.wal-service.local"),
        ("POST", probe, "dev.wal-service.local", {"Content-Type": "application/json"}),
        ("GET", f"{probe}?limit=1", "dev.wal-service.local", {"Authorization": f"Bearer {TOKEN}"}),
    ]


def test_a_missing_route_fails_its_layer_and_names_the_fix(cluster: Cluster, requests: list[Any]) -> None:
    del cluster.custom[(NS, "httproutes", "wal-service")]
    checks = {f"{c.layer}/{c.name}": c for c in verify.run_checks("dev")}
    assert checks["gateway/route"].line() == (
        "FAIL gateway/route: no HTTPRoute wal-service; cause: the stack is not deployed -> next: make up STACK=dev"
    )
    assert checks["gateway/programmed"].ok and checks["pods/rollout"].ok


def test_the_exit_code_and_the_summary_count_the_failures(
    cluster: Cluster, requests: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert verify.main(["--stack", "dev"]) == 0
    passed = capsys.readouterr().out.splitlines()[-1]
    cluster.deployment.status.available_replicas = 1
    assert verify.main(["--stack", "dev"]) == 1
    out = capsys.readouterr().out.splitlines()
    total = int(passed.split("/")[1].split()[0])
    assert passed == f"{total}/{total} checks passed"
    assert out[-1] == f"{total - 1}/{total} checks passed"
    assert out[0].startswith("FAIL pods/rollout: not complete (2/2 updated, 1 available, 2 total)")


def test_a_route_that_does_not_answer_points_at_the_data_planes_logs(
    cluster: Cluster, requests: list[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        verify, "http_get", lambda url, host_header=None, **_: HttpResult(False, 502, "502 in 9 ms", "upstream down")
    )
    checks = {f"{c.layer}/{c.name}": c for c in verify.run_checks("dev")}
    kubectl = stack_mod.load("dev").kubectl  # the stack's own kubeconfig and context
    assert checks["gateway/http"].line() == (
        "FAIL gateway/http: GET http://127.0.0.1:80/api/v1/health (Host: dev.wal-service.local): 502 in 9 ms; "
        f"cause: upstream down -> next: {kubectl} -n nginx-gateway logs "
        "-l gateway.networking.k8s.io/gateway-name=wal-service --tail=50"
    )
