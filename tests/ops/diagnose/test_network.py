"""Layer 5, network: the NetworkPolicies isolate the pods both ways and admit what routes traffic and DNS."""

from __future__ import annotations

import dataclasses
from typing import Any

from kubernetes.client import (
    V1LabelSelector,
    V1NetworkPolicy,
    V1NetworkPolicyEgressRule,
    V1NetworkPolicyIngressRule,
    V1NetworkPolicyPeer,
    V1NetworkPolicyPort,
    V1NetworkPolicySpec,
    V1ObjectMeta,
)

from ops.diagnose import network as d
from tests.ops.diagnose.builders import CTX, GW, LABELS, NS, SELECTOR


def policy(name: str, selector: dict[str, str], types: list[str], **rules: Any) -> V1NetworkPolicy:
    return V1NetworkPolicy(
        metadata=V1ObjectMeta(name=name, namespace=NS),
        spec=V1NetworkPolicySpec(
            pod_selector=V1LabelSelector(match_labels=selector or None), policy_types=types, **rules
        ),
    )


DEFAULT_DENY = policy("default-deny", {}, ["Ingress", "Egress"])
ALLOW_DNS = policy(
    "allow-dns-egress",
    {},
    ["Egress"],
    egress=[
        V1NetworkPolicyEgressRule(
            to=[
                V1NetworkPolicyPeer(
                    namespace_selector=V1LabelSelector(match_labels={"kubernetes.io/metadata.name": "kube-system"}),
                    pod_selector=V1LabelSelector(match_labels={"k8s-app": "kube-dns"}),
                )
            ],
            ports=[V1NetworkPolicyPort(protocol="UDP", port=53), V1NetworkPolicyPort(protocol="TCP", port=53)],
        )
    ],
)
ALLOW_CONTROLLER = policy(
    "allow-ingress-controller",
    SELECTOR,
    ["Ingress"],
    ingress=[
        # `from` is a Python keyword: the model takes the API's field name through its alias.
        V1NetworkPolicyIngressRule(
            **{
                "from": [
                    V1NetworkPolicyPeer(
                        namespace_selector=V1LabelSelector(
                            match_labels={"kubernetes.io/metadata.name": "ingress-nginx"}
                        )
                    )
                ],
                "ports": [V1NetworkPolicyPort(protocol="TCP", port="http")],
            }
        )
    ],
)


def test_network_policies_allow_the_path_and_deny_the_rest() -> None:
    checks = d.check_network([DEFAULT_DENY, ALLOW_DNS, ALLOW_CONTROLLER], LABELS, CTX)
    assert all(c.ok for c in checks)
    assert checks[0].detail == (
        "isolated both ways; allowed in: from namespaces kubernetes.io/metadata.name=ingress-nginx on TCP/http | "
        "out: to namespaces kubernetes.io/metadata.name=kube-system/pods k8s-app=kube-dns on UDP/53, TCP/53"
    )


ALLOW_GATEWAY = policy(
    "allow-gateway",
    SELECTOR,
    ["Ingress"],
    ingress=[
        V1NetworkPolicyIngressRule(
            **{
                "from": [
                    V1NetworkPolicyPeer(
                        namespace_selector=V1LabelSelector(
                            match_labels={"kubernetes.io/metadata.name": "nginx-gateway"}
                        ),
                        pod_selector=V1LabelSelector(
                            match_labels={"gateway.networking.k8s.io/gateway-name": "wal-service"}
                        ),
                    )
                ],
                "ports": [V1NetworkPolicyPort(protocol="TCP", port="http")],
            }
        )
    ],
)


def test_gateway_routing_needs_the_gateways_data_plane_admitted() -> None:
    checks = d.check_network([DEFAULT_DENY, ALLOW_DNS, ALLOW_GATEWAY], LABELS, GW)
    assert all(c.ok for c in checks), [c.line() for c in checks]
    # The ingress controller's namespace is not the Gateway's data plane.
    path = d.check_network([DEFAULT_DENY, ALLOW_DNS, ALLOW_CONTROLLER], LABELS, GW)[1]
    assert not path.ok and path.detail == (
        "no policy admits the Gateway's data plane (namespace nginx-gateway, "
        "pods gateway.networking.k8s.io/gateway-name=wal-service) on port 8080"
    )
    other_gateway = dataclasses.replace(GW, gateway_name="shared")
    assert not d.check_network([DEFAULT_DENY, ALLOW_DNS, ALLOW_GATEWAY], LABELS, other_gateway)[1].ok


def test_network_without_controller_rule_or_dns_fails() -> None:
    checks = d.check_network([DEFAULT_DENY], LABELS, CTX)
    assert [c.ok for c in checks] == [True, False, False]
    assert checks[1].detail == "no policy admits namespace ingress-nginx on port 8080"
    assert checks[2].cause == (
        "the pods cannot resolve any host name, the database's included: default-deny egress drops DNS "
        "unless a rule allows it"
    )
    open_checks = d.check_network([], LABELS, CTX)
    assert open_checks[0].detail.startswith("ingress and egress not isolated")


def test_each_check_line_says_what_is_allowed_or_what_breaks() -> None:
    lines = [c.line() for c in d.check_network([DEFAULT_DENY, ALLOW_DNS, ALLOW_CONTROLLER], LABELS, CTX)]
    assert lines[1:] == [
        "PASS network/ingress-path: namespace ingress-nginx may reach the pods on 8080",
        "PASS network/dns-egress: DNS (UDP/53) allowed",
    ]
    fix = f"-> next: kubectl --context kind-wal-service-cluster -n {NS} get networkpolicy -o yaml"
    assert [c.line() for c in d.check_network([DEFAULT_DENY], LABELS, CTX)][1:] == [
        "FAIL network/ingress-path: no policy admits namespace ingress-nginx on port 8080; cause: the ingress's "
        f"requests are dropped (502/504 through it) {fix}",
        "FAIL network/dns-egress: egress is isolated and DNS (UDP/53) is not allowed; cause: the pods cannot resolve "
        "any host name, the database's included: default-deny egress drops DNS unless a rule allows it "
        f"{fix}",
    ]


def test_a_policy_without_policy_types_isolates_egress_when_it_has_egress_rules() -> None:
    """The API's default for an omitted policyTypes: Ingress, plus Egress when the policy has egress rules."""
    egress_only = policy("dns-only", {}, [], egress=ALLOW_DNS.spec.egress)
    egress_only.spec.policy_types = None
    checks = d.check_network([egress_only, ALLOW_CONTROLLER], LABELS, CTX)
    assert checks[0].detail.startswith("isolated both ways"), checks[0].line()
    no_rules = policy("deny-in", {}, [])
    no_rules.spec.policy_types = None
    assert (
        d.check_network([no_rules], LABELS, CTX)[0].detail == "egress not isolated; allowed in: nothing | out: nothing"
    )
