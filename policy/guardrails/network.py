"""Network isolation: default-deny in every namespace that runs pods, and DNS still reachable."""

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
    namespace_of,
    on_the_stack,
    selector_matches,
    workloads,
)

NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"


def _selector_is_empty(selector: Any) -> bool:
    selector = as_map(selector)
    return not as_map(selector.get("matchLabels")) and not as_seq(selector.get("matchExpressions"))


def _is_default_deny(props: Mapping[str, Any]) -> bool:
    spec = as_map(props.get("spec"))
    types = {str(t) for t in as_seq(spec.get("policyTypes"))}
    return (
        _selector_is_empty(spec.get("podSelector"))
        and {"Ingress", "Egress"} <= types
        and not as_seq(spec.get("ingress"))
        and not as_seq(spec.get("egress"))
    )


def _peer_reaches_kube_dns(peer: Any) -> bool:
    peer = as_map(peer)
    if peer.get("ipBlock") is not None:
        return False
    namespaces = peer.get("namespaceSelector")
    pods = peer.get("podSelector")
    if namespaces is None:
        return False  # a podSelector alone selects pods in the policy's own namespace
    return selector_matches(namespaces, {"kubernetes.io/metadata.name": "kube-system"}) and (
        pods is None or selector_matches(pods, {"k8s-app": "kube-dns"})
    )


def _rule_allows_port(rule: Mapping[str, Any], protocol: str, number: int) -> bool:
    ports = as_seq(rule.get("ports"))
    if not ports:
        return True
    for port in ports:
        port = as_map(port)
        if str(port.get("protocol") or "TCP") != protocol:
            continue
        start = port.get("port")
        if start is None:
            return True
        if isinstance(start, int | float):
            end = port.get("endPort") or start
            if start <= number <= end:
                return True
    return False


def _allows_dns(props: Mapping[str, Any]) -> bool:
    spec = as_map(props.get("spec"))
    if "Egress" not in {str(t) for t in as_seq(spec.get("policyTypes"))}:
        return False
    for rule in as_seq(spec.get("egress")):
        rule = as_map(rule)
        peers = as_seq(rule.get("to"))
        if (not peers or any(_peer_reaches_kube_dns(p) for p in peers)) and all(
            _rule_allows_port(rule, protocol, 53) for protocol in ("UDP", "TCP")
        ):
            return True
    return False


def check_network_policy_coverage(resources: Sequence[StackResource], report: StackReport) -> None:
    policies: dict[str, list[StackResource]] = {}
    for resource in resources:
        if resource.resource_type == NETWORK_POLICY:
            policies.setdefault(namespace_of(resource.props), []).append(resource)
    reported_namespaces: set[str] = set()
    for workload, template in workloads(resources):
        namespace = namespace_of(workload.props)
        in_namespace = policies.get(namespace, [])
        if namespace not in reported_namespaces and not any(_is_default_deny(p.props) for p in in_namespace):
            reported_namespaces.add(namespace)
            report(
                f"namespace {namespace!r} runs workloads (e.g. {workload.name}) but has no default-deny "
                "NetworkPolicy (empty podSelector, policyTypes Ingress and Egress, no rules), so its pods accept "
                "connections from every pod in the cluster and reach anything. Add one, then allow only the traffic "
                "each workload needs.",
                workload.urn,
            )
        labels = as_map(template.metadata.get("labels"))
        if not any(
            _allows_dns(p.props) and selector_matches(dig(p.props, "spec", "podSelector"), labels) for p in in_namespace
        ):
            report(
                f"{workload.name}: no NetworkPolicy in {namespace!r} selecting its pods allows egress to kube-dns "
                "(namespace kubernetes.io/metadata.name=kube-system, pods k8s-app=kube-dns) on UDP and TCP 53; "
                "under default-deny the pods cannot resolve any host name. Add an egress rule to that peer on both "
                "protocols (DNS falls back to TCP for large answers).",
                workload.urn,
            )


network_policy_coverage = declare(
    "network-policy-coverage",
    on_the_stack(check_network_policy_coverage),
    description="Every namespace with workloads has a default-deny NetworkPolicy, so pods reach and are reached "
    "only by what a policy allows, and its pods may still reach kube-dns on UDP and TCP 53, without which "
    "default-deny breaks every host name lookup.",
    remediation="Add a default-deny policy (podSelector {}, Ingress+Egress) and an egress rule to "
    "kube-system/k8s-app=kube-dns on UDP and TCP 53.",
    url="https://kubernetes.io/docs/concepts/services-networking/network-policies/#default-policies",
    severity=Severity.HIGH,
    tags=["network", "security"],
)
