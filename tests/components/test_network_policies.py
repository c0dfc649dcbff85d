"""NetworkPolicies: deny by default, DNS for every pod, traffic only from what routes it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from tests.components.workload_objects import WORKLOAD, matches, pod_labels

if TYPE_CHECKING:
    from conftest import StackRun


def test_default_deny(run: StackRun) -> None:
    denies = [
        p
        for p in run.objects("NetworkPolicy", WORKLOAD)
        if not (p.spec.get("podSelector") or {}).get("matchLabels")
        and not (p.spec.get("podSelector") or {}).get("matchExpressions")
        and set(p.spec.get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p.spec.get("ingress")
        and not p.spec.get("egress")
    ]
    assert denies, f"stack {run.stack}: no default-deny NetworkPolicy (empty podSelector, both policy types)"


def test_dns_egress(run: StackRun) -> None:
    dns_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    for policy in run.objects("NetworkPolicy", WORKLOAD):
        selector = policy.spec.get("podSelector") or {}
        if selector.get("matchLabels") and not matches(selector["matchLabels"], pod_labels(run)):
            continue
        for rule in policy.spec.get("egress", []):
            ports = {(p.get("protocol"), p.get("port")) for p in rule.get("ports", [])}
            if dns_peer in rule.get("to", []) and {("UDP", 53), ("TCP", 53)} <= ports:
                return
    pytest.fail(f"stack {run.stack}: no NetworkPolicy lets the pods reach kube-dns on UDP and TCP 53")


def test_traffic_only_from_what_routes_it(run: StackRun, config: dict[str, str]) -> None:
    """The Gateway's data-plane pods (gateway routing) or the ingress controller's namespace, on the http port."""
    namespace = {"kubernetes.io/metadata.name": config["gatewayNamespace"]}
    peer: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": namespace},
        "podSelector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": config["gatewayName"]}},
    }
    if config["routing"] == "ingress":
        peer = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": config["ingressControllerNamespace"]}}
        }
    # Besides the route, only the metrics scraper's namespace (tests/components/test_monitoring.py).
    allowed = [[peer]]
    if config["monitoring"] != "none":
        scraper = config["monitoringNamespace"]
        allowed.append([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": scraper}}}])
    found = []
    for policy in run.objects("NetworkPolicy", WORKLOAD):
        for rule in policy.spec.get("ingress", []):
            assert rule.get("from"), f"{policy}: an ingress rule without `from` admits every source"
            assert rule["from"] in allowed, f"{policy}: admits {rule['from']}, not only one of {allowed}"
            if rule["from"] == [peer]:
                found.append(policy)
            ports = [(p.get("protocol"), p.get("port")) for p in rule.get("ports", [])]
            assert ports == [("TCP", "http")] or ports == [("TCP", 8080)], f"{policy}: ports {ports}"
            assert matches(policy.spec["podSelector"].get("matchLabels") or {}, pod_labels(run)), (
                f"{policy}: podSelector misses the service's pods"
            )
    assert found, f"stack {run.stack}: no NetworkPolicy admits {peer}"


def test_policy_selectors_match_pods(run: StackRun) -> None:
    selected = [
        p for p in run.objects("NetworkPolicy", WORKLOAD) if (p.spec.get("podSelector") or {}).get("matchLabels")
    ]
    # The routing and egress policies select the service's pods by label.
    assert len(selected) >= 2, f"stack {run.stack}: only {[str(p) for p in selected]} select pods by label"
    for policy in selected:
        selector = policy.spec["podSelector"]["matchLabels"]
        assert matches(selector, pod_labels(run)), f"{policy}: podSelector {selector} matches no service pod"
