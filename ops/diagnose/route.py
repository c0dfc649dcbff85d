"""Layer 3, route: the ingress controller and our Ingress, or the Gateway and our HTTPRoute; either way, no other
route in the cluster claims the stack's host."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.app_config import HTTP_PORT
from components.labels import APP_NAME, INSTANCE_LABEL
from components.routes import HTTP_ROUTE_NAME, INGRESS_NAME
from ops.diagnose.checks import Check, Ctx, is_ready


def check_controller(pods: Sequence[Any], ctx: Ctx) -> Check:
    ready = [p for p in pods if is_ready(p)]
    next_cmd = f"{ctx.cluster_kubectl} -n {ctx.ingress_namespace} get pods,events"
    if not pods:
        return Check(
            "ingress",
            "controller",
            False,
            f"no controller pods in {ctx.ingress_namespace}",
            "the controller is not installed",
            next_cmd,
        )
    if not ready:
        return Check(
            "ingress", "controller", False, f"0/{len(pods)} controller pods Ready", "the controller is not up", next_cmd
        )
    return Check("ingress", "controller", True, f"{len(ready)}/{len(pods)} controller pods Ready")


def ingress_addresses(ingress: Any) -> list[str]:
    lb = ingress.status.load_balancer if ingress is not None and ingress.status else None
    return [entry.ip or entry.hostname for entry in (lb.ingress if lb else None) or [] if entry.ip or entry.hostname]


def check_ingress_address(ingress: Any, ctx: Ctx) -> Check:
    if ingress is None:
        return Check(
            "ingress",
            "address",
            False,
            f"no Ingress {INGRESS_NAME}",
            "the stack is not deployed",
            f"make up STACK={ctx.stack}",
        )
    addresses = ingress_addresses(ingress)
    if not addresses:
        return Check(
            "ingress",
            "address",
            False,
            "no address in .status.loadBalancer",
            "the controller has not admitted it (wrong ingressClassName, or the controller does not publish a status)",
            f"{ctx.kubectl} describe ingress {INGRESS_NAME}",
        )
    return Check("ingress", "address", True, f"address {', '.join(addresses)}")


def ingress_hosts(ingress: Any) -> set[str]:
    spec = ingress.spec
    hosts = {rule.host for rule in (spec.rules or []) if rule.host}
    hosts |= {h for tls in (spec.tls or []) for h in (tls.hosts or [])}
    return hosts


def route_hostnames(route: Mapping[str, Any]) -> set[str]:
    return {str(h).lower() for h in (route.get("spec") or {}).get("hostnames") or []}


def check_host_claims(ingresses: Sequence[Any], routes: Sequence[Mapping[str, Any]], ctx: Ctx) -> Check:
    """One route per host in the whole cluster. Ours are the objects with the stack's instance label, in any
    namespace (a renamed namespace leaves our old route behind until the stack deletes it)."""
    host = ctx.host.lower()
    others: list[tuple[str, str, str]] = [
        ("ingress", i.metadata.namespace, i.metadata.name)
        for i in ingresses
        if host in {h.lower() for h in ingress_hosts(i)}
        and (i.metadata.labels or {}).get(INSTANCE_LABEL) != ctx.instance
    ]
    others += [
        ("httproute", r["metadata"].get("namespace", ""), r["metadata"]["name"])
        for r in routes
        if host in route_hostnames(r) and (r["metadata"].get("labels") or {}).get(INSTANCE_LABEL) != ctx.instance
    ]
    if not others:
        return Check(ctx.layer, "host", True, f"no other Ingress or HTTPRoute claims {ctx.host}")
    kind, namespace, name = others[0]
    named = ", ".join(f"{k} {ns}/{n}" for k, ns, n in others)
    return Check(
        ctx.layer,
        "host",
        False,
        f"{named} also claim{'s' if len(others) == 1 else ''} {ctx.host} "
        f"(not this stack's: no {INSTANCE_LABEL}={ctx.instance})",
        "two routes for one host route unpredictably: the controller merges or picks between them, so "
        "requests may reach the other backend",
        f"{ctx.cluster_kubectl} -n {namespace} delete {kind} {name}",
    )


def conditions(obj: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    return {str(c.get("type")): c for c in ((obj or {}).get("status") or {}).get("conditions") or []}


def _state(condition: Mapping[str, Any] | None) -> str:
    if condition is None:
        return "not reported"
    reason = f" ({condition.get('reason')}: {condition.get('message')})" if condition.get("reason") else ""
    return f"{condition.get('status')}{reason}"


def gateway_addresses(gateway: Mapping[str, Any] | None) -> list[str]:
    return [str(a["value"]) for a in ((gateway or {}).get("status") or {}).get("addresses") or [] if a.get("value")]


def check_gateway(gateway: Mapping[str, Any] | None, ctx: Ctx) -> Check:
    """Programmed by its controller, with an address: the data plane exists and serves the listeners."""
    where = f"{ctx.gateway_namespace}/{ctx.gateway_name}"
    describe = f"{ctx.cluster_kubectl} -n {ctx.gateway_namespace} describe gateway {ctx.gateway_name}"
    if gateway is None:
        return Check(
            "gateway",
            "programmed",
            False,
            f"no Gateway {where}",
            "the stack is not deployed, or the shared Gateway it names does not exist",
            f"make up STACK={ctx.stack}",
        )
    programmed = conditions(gateway).get("Programmed")
    if programmed is None or programmed.get("status") != "True":
        return Check(
            "gateway",
            "programmed",
            False,
            f"Gateway {where} Programmed={_state(programmed)}",
            "its controller has not programmed it: the GatewayClass has no running controller, or the controller "
            "rejected a listener",
            describe,
        )
    addresses = gateway_addresses(gateway)
    if not addresses:
        return Check(
            "gateway", "programmed", False, f"Gateway {where} has no address in .status.addresses", "", describe
        )
    return Check("gateway", "programmed", True, f"Gateway {where} programmed, address {', '.join(addresses)}")


def check_route(route: Mapping[str, Any] | None, ctx: Ctx) -> Check:
    """Accepted by our parent Gateway, with its backend resolved (route status is per parent)."""
    describe = f"{ctx.kubectl} describe httproute {HTTP_ROUTE_NAME}"
    if route is None:
        return Check(
            "gateway",
            "route",
            False,
            f"no HTTPRoute {HTTP_ROUTE_NAME}",
            "the stack is not deployed",
            f"make up STACK={ctx.stack}",
        )
    route_ns = route["metadata"].get("namespace", ctx.namespace)
    ours = [
        p
        for p in (route.get("status") or {}).get("parents") or []
        if p.get("parentRef", {}).get("name") == ctx.gateway_name
        and p.get("parentRef", {}).get("namespace", route_ns) == ctx.gateway_namespace
    ]
    parent = f"Gateway {ctx.gateway_namespace}/{ctx.gateway_name}"
    if not ours:
        return Check(
            "gateway",
            "route",
            False,
            f"no status from {parent}",
            "the Gateway's controller has not seen the route: it is down, or the parentRef names another Gateway",
            describe,
        )
    found = {str(c.get("type")): c for c in ours[0].get("conditions") or []}
    accepted, resolved = found.get("Accepted"), found.get("ResolvedRefs")
    if accepted is None or accepted.get("status") != "True":
        return Check(
            "gateway",
            "route",
            False,
            f"not accepted by {parent}: Accepted={_state(accepted)}",
            "no listener admits it: the listener's hostname or allowedRoutes namespaces exclude the route",
            describe,
        )
    if resolved is None or resolved.get("status") != "True":
        return Check(
            "gateway",
            "route",
            False,
            f"accepted by {parent}, backend not resolved: ResolvedRefs={_state(resolved)}",
            f"the Service {APP_NAME} or its port {HTTP_PORT} does not exist in {route_ns}",
            describe,
        )
    return Check("gateway", "route", True, f"accepted by {parent}, backend resolved")
