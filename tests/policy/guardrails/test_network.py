"""Network isolation: default-deny and DNS egress per namespace."""

from __future__ import annotations

import copy

import pytest

from policy.guardrails.network import check_network_policy_coverage
from tests.policy.builders import deployment, network_policies, stack_findings


def test_default_deny_and_dns_pass() -> None:
    assert stack_findings(check_network_policy_coverage, [deployment(), *network_policies()]) == []


def test_missing_default_deny_is_found() -> None:
    found = stack_findings(check_network_policy_coverage, [deployment(), network_policies()[1]])
    assert len(found) == 1 and "default-deny" in found[0][0] and found[0][1] == deployment().urn


def test_ingress_only_deny_is_not_default_deny() -> None:
    deny, dns = network_policies()
    deny.props["spec"]["policyTypes"] = ["Ingress"]
    assert len(stack_findings(check_network_policy_coverage, [deployment(), deny, dns])) == 1


@pytest.mark.parametrize("ports", [("UDP",), ("TCP",)])
def test_dns_needs_udp_and_tcp(ports: tuple[str, ...]) -> None:
    found = stack_findings(check_network_policy_coverage, [deployment(), *network_policies(dns_ports=ports)])
    assert len(found) == 1 and "kube-dns" in found[0][0]


def test_dns_rule_must_reach_kube_system_and_select_the_pods() -> None:
    deny, dns = network_policies()
    wrong = copy.deepcopy(dns)
    wrong.props["spec"]["egress"][0]["to"][0]["namespaceSelector"] = {"matchLabels": {"name": "elsewhere"}}
    assert len(stack_findings(check_network_policy_coverage, [deployment(), deny, wrong])) == 1
    other_pods = copy.deepcopy(dns)
    other_pods.props["spec"]["podSelector"] = {"matchLabels": {"app": "other"}}
    assert len(stack_findings(check_network_policy_coverage, [deployment(), deny, other_pods])) == 1
    anywhere = copy.deepcopy(dns)
    del anywhere.props["spec"]["egress"][0]["to"]  # no peers: every destination, DNS included
    assert stack_findings(check_network_policy_coverage, [deployment(), deny, anywhere]) == []


def test_namespace_without_policies_and_workload_without_namespace() -> None:
    resource = deployment()
    del resource.props["metadata"]["namespace"]
    found = stack_findings(check_network_policy_coverage, [resource, *network_policies()])
    assert len(found) == 2 and "'default'" in found[0][0]


@pytest.mark.parametrize(
    ("peer", "reaches"),
    [
        # A podSelector alone selects pods in the policy's own namespace, never kube-system's kube-dns.
        ({"podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}, False),
        ({"ipBlock": {"cidr": "10.96.0.10/32"}}, False),
        ({"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}, True),
        (
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                "podSelector": {"matchLabels": {"k8s-app": "other"}},
            },
            False,
        ),
        ({"namespaceSelector": {}, "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}, True),
    ],
    ids=["pods-of-own-namespace", "ip-block", "all-of-kube-system", "other-kube-system-pods", "any-namespace-kube-dns"],
)
def test_dns_peer_must_reach_kube_dns_in_kube_system(peer: dict[str, object], reaches: bool) -> None:
    deny, dns = network_policies()
    dns.props["spec"]["egress"][0]["to"] = [peer]
    found = stack_findings(check_network_policy_coverage, [deployment(), deny, dns])
    assert (found == []) is reaches, found


def test_a_dns_rule_without_ports_allows_every_port() -> None:
    deny, dns = network_policies()
    del dns.props["spec"]["egress"][0]["ports"]  # no ports: every port to kube-dns, 53 included
    assert stack_findings(check_network_policy_coverage, [deployment(), deny, dns]) == []
    dns.props["spec"]["egress"][0]["ports"] = [{"protocol": "UDP"}, {"protocol": "TCP"}]  # every port, per protocol
    assert stack_findings(check_network_policy_coverage, [deployment(), deny, dns]) == []
    dns.props["spec"]["egress"][0]["ports"] = [{"protocol": "UDP", "port": 50, "endPort": 60}, {"port": 53}]
    assert stack_findings(check_network_policy_coverage, [deployment(), deny, dns]) == []


def test_a_deny_that_selects_some_pods_by_expression_is_not_the_namespaces_default_deny() -> None:
    """`podSelector: {matchExpressions: [...]}` leaves every other pod of the namespace open."""
    deny, dns = network_policies()
    deny.props["spec"]["podSelector"] = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["db"]}]}
    found = stack_findings(check_network_policy_coverage, [deployment(), deny, dns])
    assert len(found) == 1 and "default-deny" in found[0][0]
