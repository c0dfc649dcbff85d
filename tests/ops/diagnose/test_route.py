"""Layer 3, route: the Ingress or the Gateway and its HTTPRoute, and no other route claiming the host."""

from __future__ import annotations

from typing import Any

from kubernetes.client import (
    V1HTTPIngressPath,
    V1HTTPIngressRuleValue,
    V1Ingress,
    V1IngressBackend,
    V1IngressLoadBalancerIngress,
    V1IngressLoadBalancerStatus,
    V1IngressRule,
    V1IngressServiceBackend,
    V1IngressSpec,
    V1IngressStatus,
    V1ObjectMeta,
    V1ServiceBackendPort,
)

from ops.diagnose import route as d
from tests.ops.diagnose.builders import CTX, GW, NS


def ingress(
    namespace: str, name: str, host: str, address: str | None = "localhost", instance: str | None = None
) -> V1Ingress:
    backend = V1IngressBackend(
        service=V1IngressServiceBackend(name="wal-service", port=V1ServiceBackendPort(name="http"))
    )
    return V1Ingress(
        metadata=V1ObjectMeta(
            name=name, namespace=namespace, labels={"app.kubernetes.io/instance": instance} if instance else None
        ),
        spec=V1IngressSpec(
            ingress_class_name="nginx",
            rules=[
                V1IngressRule(
                    host=host,
                    http=V1HTTPIngressRuleValue(
                        paths=[V1HTTPIngressPath(path="/", path_type="Prefix", backend=backend)]
                    ),
                )
            ],
        ),
        status=V1IngressStatus(
            load_balancer=V1IngressLoadBalancerStatus(
                ingress=[V1IngressLoadBalancerIngress(hostname=address)] if address else None
            )
        ),
    )


def test_ingress_without_address_and_with_address() -> None:
    assert d.check_ingress_address(ingress(NS, "wal-service-ingress", CTX.host), CTX).line() == (
        "PASS ingress/address: address localhost"
    )
    bare = d.check_ingress_address(ingress(NS, "wal-service-ingress", CTX.host, None), CTX)
    assert not bare.ok and bare.detail == "no address in .status.loadBalancer"


def test_another_ingress_claiming_the_host_in_another_namespace_fails() -> None:
    ours = ingress(NS, "wal-service-ingress", CTX.host, instance="wal-service-dev")
    stale = ingress("default", "wal-service-ingress", CTX.host)
    other = ingress("default", "shop", "shop.local")
    assert d.check_host_claims([ours, other], [], CTX).ok
    check = d.check_host_claims([ours, stale, other], [], CTX)
    assert check.detail == (
        "ingress default/wal-service-ingress also claims dev.wal-service.local "
        "(not this stack's: no app.kubernetes.io/instance=wal-service-dev)"
    )
    assert check.next == "kubectl --context kind-wal-service-cluster -n default delete ingress wal-service-ingress"


def test_our_own_route_in_a_renamed_namespace_is_not_a_conflict() -> None:
    """After a namespace rename the old route is still ours: recognised by the instance label, not the namespace."""
    old = ingress("wal-service-old", "wal-service-ingress", CTX.host, instance="wal-service-dev")
    assert d.check_host_claims([old], [http_route("wal-service-old")], GW).ok
    staging = http_route("wal-service-staging", instance="wal-service-staging")
    check = d.check_host_claims([], [staging], GW)
    assert not check.ok and check.layer == "gateway"
    assert (
        check.next == "kubectl --context kind-wal-service-cluster -n wal-service-staging delete httproute wal-service"
    )


def condition(kind: str, status: str = "True", reason: str = "") -> dict[str, str]:
    return {"type": kind, "status": status, "reason": reason or kind, "message": "m"}


def http_route(
    namespace: str = NS, instance: str = "wal-service-dev", host: str = "dev.wal-service.local", **parent: Any
) -> dict[str, Any]:
    ref = {"name": "wal-service", "namespace": "nginx-gateway", **parent.pop("ref", {})}
    return {
        "metadata": {"name": "wal-service", "namespace": namespace, "labels": {"app.kubernetes.io/instance": instance}},
        "spec": {"hostnames": [host.upper()], "parentRefs": [ref]},
        "status": {
            "parents": [
                {
                    "parentRef": ref,
                    "conditions": parent.get("conditions", [condition("Accepted"), condition("ResolvedRefs")]),
                }
            ]
        },
    }


def test_gateway_programmed_with_an_address() -> None:
    gateway = {
        "metadata": {"name": "wal-service", "namespace": "nginx-gateway"},
        "status": {"conditions": [condition("Programmed")], "addresses": [{"type": "IPAddress", "value": "10.96.0.9"}]},
    }
    assert d.check_gateway(gateway, GW).line() == (
        "PASS gateway/programmed: Gateway nginx-gateway/wal-service programmed, address 10.96.0.9"
    )
    pending = {**gateway, "status": {"conditions": [condition("Programmed", "False", "Pending")]}}
    check = d.check_gateway(pending, GW)
    assert not check.ok and check.detail == "Gateway nginx-gateway/wal-service Programmed=False (Pending: m)"
    assert check.next == "kubectl --context kind-wal-service-cluster -n nginx-gateway describe gateway wal-service"
    assert not d.check_gateway({**gateway, "status": {"conditions": [condition("Programmed")]}}, GW).ok
    assert check.cause == (
        "its controller has not programmed it: the GatewayClass has no running controller, or the controller "
        "rejected a listener"
    )
    assert d.check_gateway(None, GW).line() == (
        "FAIL gateway/programmed: no Gateway nginx-gateway/wal-service; cause: the stack is not deployed, or the "
        "shared Gateway it names does not exist -> next: make up STACK=dev"
    )


def test_route_accepted_by_its_parent_with_the_backend_resolved() -> None:
    assert d.check_route(http_route(), GW).line() == (
        "PASS gateway/route: accepted by Gateway nginx-gateway/wal-service, backend resolved"
    )
    describe = "-> next: kubectl --context kind-wal-service-cluster -n wal-service-dev describe httproute wal-service"
    refused = d.check_route(http_route(conditions=[condition("Accepted", "False", "NotAllowedByListeners")]), GW)
    assert refused.line() == (
        "FAIL gateway/route: not accepted by Gateway nginx-gateway/wal-service: Accepted=False "
        "(NotAllowedByListeners: m); cause: no listener admits it: the listener's hostname or allowedRoutes "
        f"namespaces exclude the route {describe}"
    )
    unresolved = d.check_route(
        http_route(conditions=[condition("Accepted"), condition("ResolvedRefs", "False", "BackendNotFound")]), GW
    )
    assert unresolved.line() == (
        "FAIL gateway/route: accepted by Gateway nginx-gateway/wal-service, backend not resolved: "
        "ResolvedRefs=False (BackendNotFound: m); cause: the Service wal-service or its port 8080 does not exist in "
        f"wal-service-dev {describe}"
    )
    # Status from another parent says nothing about ours.
    elsewhere = d.check_route(http_route(ref={"name": "other"}), GW)
    assert elsewhere.line() == (
        "FAIL gateway/route: no status from Gateway nginx-gateway/wal-service; cause: the Gateway's controller has "
        f"not seen the route: it is down, or the parentRef names another Gateway {describe}"
    )
    assert d.check_route(None, GW).line() == (
        "FAIL gateway/route: no HTTPRoute wal-service; cause: the stack is not deployed -> next: make up STACK=dev"
    )


def test_an_ingress_stack_without_controller_or_ingress_says_which_is_missing() -> None:
    assert d.check_controller([], CTX).line() == (
        "FAIL ingress/controller: no controller pods in ingress-nginx; cause: the controller is not installed -> "
        "next: kubectl --context kind-wal-service-cluster -n ingress-nginx get pods,events"
    )
    assert d.check_ingress_address(None, CTX).line() == (
        "FAIL ingress/address: no Ingress wal-service-ingress; cause: the stack is not deployed -> next: "
        "make up STACK=dev"
    )
