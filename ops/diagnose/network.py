"""Layer 5, network: what the namespace's NetworkPolicies allow the pods: what routes traffic in, DNS out, nothing
else."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from components.app_config import HTTP_PORT, HTTP_PORT_NAME
from components.labels import GATEWAY_NAME_LABEL
from ops.diagnose.checks import Check, Ctx, selector_matches


def describe_selector(selector: Any) -> str:
    if selector is None:
        return "any"
    parts = [f"{k}={v}" for k, v in sorted((selector.match_labels or {}).items())]
    for expr in selector.match_expressions or []:
        values = ",".join(expr.values or [])
        parts.append(f"{expr.key} {expr.operator}" + (f" ({values})" if values else ""))
    return ",".join(parts) or "any"


def _ports(ports: Sequence[Any] | None) -> str:
    if not ports:
        return "all ports"
    return ", ".join(f"{p.protocol or 'TCP'}/{p.port if p.port is not None else 'any'}" for p in ports)


def describe_peer(peer: Any) -> str:
    if peer.ip_block is not None:
        excepts = f" except {', '.join(peer.ip_block.var_except or [])}" if peer.ip_block.var_except else ""
        return f"{peer.ip_block.cidr}{excepts}"
    if peer.namespace_selector is not None:
        ns = describe_selector(peer.namespace_selector)
        pods = f"/pods {describe_selector(peer.pod_selector)}" if peer.pod_selector is not None else ""
        return f"namespaces {ns}{pods}"
    return f"pods {describe_selector(peer.pod_selector)} in this namespace"


def _types(policy: Any) -> set[str]:
    spec = policy.spec
    if spec.policy_types:
        return set(spec.policy_types)
    return {"Ingress"} | ({"Egress"} if spec.egress else set())


def _port_allows(ports: Sequence[Any] | None, number: int, name: str) -> bool:
    return not ports or any(p.port in (number, name) and (p.protocol or "TCP") == "TCP" for p in ports)


def _peer_admits(peer: Any, ctx: Ctx) -> bool:
    """Whether a peer admits what routes our traffic: the Gateway's data-plane pods, or the ingress
    controller's namespace (whose pod labels differ between controllers, so only the namespace counts)."""
    if peer.ip_block is not None or peer.namespace_selector is None:
        return False
    namespace = ctx.gateway_namespace if ctx.routing == "gateway" else ctx.ingress_namespace
    if not selector_matches(peer.namespace_selector, {"kubernetes.io/metadata.name": namespace}):
        return False
    if ctx.routing != "gateway" or peer.pod_selector is None:
        return True
    return selector_matches(peer.pod_selector, {GATEWAY_NAME_LABEL: ctx.gateway_name})


def check_network(
    policies: Sequence[Any], pod_labels: Mapping[str, str], ctx: Ctx, port: int = HTTP_PORT
) -> list[Check]:
    """What the namespace's policies allow for our pods: what routes traffic in, DNS out, nothing else."""
    applying = [p for p in policies if selector_matches(p.spec.pod_selector, pod_labels)]
    ingress_isolated = any("Ingress" in _types(p) for p in applying)
    egress_isolated = any("Egress" in _types(p) for p in applying)
    allowed_in: list[str] = []
    allowed_out: list[str] = []
    controller_in = dns_out = False
    for policy in applying:
        types = _types(policy)
        for rule in (policy.spec.ingress or []) if "Ingress" in types else []:
            peers = rule.var_from or []
            allowed_in.append(
                f"from {' or '.join(describe_peer(p) for p in peers) or 'anywhere'} on {_ports(rule.ports)}"
            )
            if _port_allows(rule.ports, port, HTTP_PORT_NAME) and (
                not peers or any(_peer_admits(p, ctx) for p in peers)
            ):
                controller_in = True
        for rule in (policy.spec.egress or []) if "Egress" in types else []:
            peers = rule.to or []
            allowed_out.append(
                f"to {' or '.join(describe_peer(p) for p in peers) or 'anywhere'} on {_ports(rule.ports)}"
            )
            if any((p.port == 53 and (p.protocol or "TCP") == "UDP") for p in rule.ports or []) or not rule.ports:
                dns_out = True
    listing = f"in: {'; '.join(allowed_in) or 'nothing'} | out: {'; '.join(allowed_out) or 'nothing'}"
    np_cmd = f"{ctx.kubectl} get networkpolicy -o yaml"
    checks = []
    if ingress_isolated and egress_isolated:
        checks.append(Check("network", "default-deny", True, f"isolated both ways; allowed {listing}"))
    else:
        open_ways = " and ".join(
            w for w, iso in (("ingress", ingress_isolated), ("egress", egress_isolated)) if not iso
        )
        checks.append(
            Check(
                "network",
                "default-deny",
                False,
                f"{open_ways} not isolated; allowed {listing}",
                "no NetworkPolicy selects the pods for that direction, so everything is allowed",
                np_cmd,
            )
        )
    if not ingress_isolated or controller_in:
        checks.append(Check("network", "ingress-path", True, f"{ctx.traffic_source} may reach the pods on {port}"))
    else:
        checks.append(
            Check(
                "network",
                "ingress-path",
                False,
                f"no policy admits {ctx.traffic_source} on port {port}",
                f"the {ctx.layer}'s requests are dropped (502/504 through it)",
                np_cmd,
            )
        )
    if not egress_isolated or dns_out:
        checks.append(Check("network", "dns-egress", True, "DNS (UDP/53) allowed"))
    else:
        checks.append(
            Check(
                "network",
                "dns-egress",
                False,
                "egress is isolated and DNS (UDP/53) is not allowed",
                "the pods cannot resolve any host name, the database's included: default-deny egress drops DNS "
                "unless a rule allows it",
                np_cmd,
            )
        )
    return checks
