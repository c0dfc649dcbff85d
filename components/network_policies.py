"""The stack namespace's NetworkPolicies: deny by default, DNS for every pod, and for the service's pods only what
reaches them (the route's proxies, the metrics scraper) and what they reach (e.g. the database)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)

from components.app_config import HTTP_PORT_NAME
from components.labels import GATEWAY_NAME_LABEL, namespace_labels
from components.monitoring import Monitoring
from components.ownership import owned
from components.routes import GatewayRoute, IngressRoute


def namespace_policies(name: str, namespace: pulumi.Input[str], instance: str, opts: pulumi.ResourceOptions) -> None:
    """Default deny and DNS egress for every pod of the namespace: they belong to the namespace, not the API."""

    def meta(object_name: str) -> ObjectMetaArgs:
        return ObjectMetaArgs(
            name=object_name, namespace=namespace, labels=namespace_labels(instance), annotations=owned()
        )

    k8s.networking.v1.NetworkPolicy(
        f"{name}-default-deny",
        metadata=meta("default-deny"),
        spec=NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(), policy_types=["Ingress", "Egress"]),
        opts=opts,
    )
    k8s.networking.v1.NetworkPolicy(
        f"{name}-allow-dns",
        metadata=meta("allow-dns-egress"),
        spec=NetworkPolicySpecArgs(
            pod_selector=LabelSelectorArgs(),
            policy_types=["Egress"],
            egress=[
                NetworkPolicyEgressRuleArgs(
                    to=[
                        NetworkPolicyPeerArgs(
                            namespace_selector=LabelSelectorArgs(
                                match_labels={"kubernetes.io/metadata.name": "kube-system"}
                            ),
                            pod_selector=LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                        )
                    ],
                    ports=[
                        NetworkPolicyPortArgs(protocol="UDP", port=53),
                        NetworkPolicyPortArgs(protocol="TCP", port=53),
                    ],
                )
            ],
        ),
        opts=opts,
    )


def service_policies(
    name: str,
    via: GatewayRoute | IngressRoute,
    monitoring: Monitoring,
    egress: Sequence[NetworkPolicyEgressRuleArgs],
    meta: Callable[[str], ObjectMetaArgs],
    selector: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> None:
    """What may reach the service's pods (`selector`), and what they may reach beyond DNS (`egress`)."""
    if isinstance(via, GatewayRoute):
        # The data plane proxies to the pods directly; only the Gateway's own pods may.
        source, policy = (
            NetworkPolicyPeerArgs(
                namespace_selector=LabelSelectorArgs(
                    match_labels={"kubernetes.io/metadata.name": via.gateway_namespace}
                ),
                pod_selector=LabelSelectorArgs(match_labels={GATEWAY_NAME_LABEL: via.gateway_name}),
            ),
            "allow-gateway",
        )
    else:
        source, policy = (
            NetworkPolicyPeerArgs(
                namespace_selector=LabelSelectorArgs(
                    match_labels={"kubernetes.io/metadata.name": via.controller_namespace}
                )
            ),
            "allow-ingress-controller",
        )

    def admit(policy: str, source: NetworkPolicyPeerArgs) -> None:
        """`source` may reach the service's HTTP port, and nothing else of ours."""
        k8s.networking.v1.NetworkPolicy(
            f"{name}-{policy}",
            metadata=meta(policy),
            spec=NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress"],
                ingress=[
                    NetworkPolicyIngressRuleArgs(
                        from_=[source], ports=[NetworkPolicyPortArgs(protocol="TCP", port=HTTP_PORT_NAME)]
                    )
                ],
            ),
            opts=opts,
        )

    admit(policy, source)
    # /metrics is served on the HTTP port; a NetworkPolicy cannot narrow a port to one path.
    if monitoring.mode != "none":
        scraper = {"kubernetes.io/metadata.name": monitoring.scraper_namespace}
        admit(
            "allow-metrics-scrape",
            NetworkPolicyPeerArgs(namespace_selector=LabelSelectorArgs(match_labels=scraper)),
        )
    if egress:
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-egress",
            metadata=meta("allow-app-egress"),
            spec=NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(match_labels=selector),
                policy_types=["Egress"],
                egress=list(egress),
            ),
            opts=opts,
        )
