"""ServiceGateway: the Gateway this stack owns, with one listener per scheme for the service's host only."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from components.ownership import owned

GATEWAY_API = "gateway.networking.k8s.io/v1"
# `pulumi up` waits until the controller has programmed the Gateway and published an address, so a
# finished `up` means traffic can flow (pulumi-kubernetes provider/pkg/metadata/overrides.go: a JSON list
# of kubectl-wait style expressions, all of which must hold, each against the current generation).
GATEWAY_READY = json.dumps(["condition=Programmed", "jsonpath={.status.addresses[0].value}"])
AWAIT_TIMEOUTS = pulumi.CustomTimeouts(create="5m", update="5m")


@dataclass(frozen=True)
class ServiceGatewayArgs:
    name: str
    """Name of the Gateway."""
    namespace: str
    """Namespace of the Gateway; Gateway API puts the data plane it provisions beside it."""
    gateway_class: str
    """GatewayClass whose controller programs the Gateway."""
    host: str
    """The only host name the listeners accept routes for."""
    route_namespace: pulumi.Input[str]
    """The only namespace whose routes may attach (the service's)."""
    labels: Mapping[str, str]
    """Labels of the stack's objects (the instance label marks it as ours)."""
    tls_secret_name: str = ""
    """Secret in route_namespace with the host's certificate: adds an HTTPS listener; empty serves HTTP only."""
    depends_on: Sequence[pulumi.Resource] = field(default_factory=tuple)
    """What must exist first: the CRDs and the controller that serves the class."""


class ServiceGateway(pulumi.ComponentResource):
    name: pulumi.Output[str]
    namespace: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:ServiceGateway", name, None, opts)
        allowed_routes = {
            "namespaces": {
                "from": "Selector",
                "selector": {"matchLabels": {"kubernetes.io/metadata.name": args.route_namespace}},
            },
            "kinds": [{"group": "gateway.networking.k8s.io", "kind": "HTTPRoute"}],
        }
        listeners: list[dict[str, object]] = [
            {"name": "http", "protocol": "HTTP", "port": 80, "hostname": args.host, "allowedRoutes": allowed_routes}
        ]
        grant = None
        if args.tls_secret_name:
            listeners.append(
                {
                    "name": "https",
                    "protocol": "HTTPS",
                    "port": 443,
                    "hostname": args.host,
                    "allowedRoutes": allowed_routes,
                    "tls": {
                        "mode": "Terminate",
                        "certificateRefs": [
                            {"kind": "Secret", "name": args.tls_secret_name, "namespace": args.route_namespace}
                        ],
                    },
                }
            )
            # A listener may only read a Secret in another namespace that grants it (GEP-709, ReferenceGrant).
            grant = k8s.apiextensions.CustomResource(
                f"{name}-tls-grant",
                api_version=GATEWAY_API,
                kind="ReferenceGrant",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{args.name}-tls",
                    namespace=args.route_namespace,
                    labels=dict(args.labels),
                    annotations=owned(),
                ),
                spec={
                    "from": [{"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": args.namespace}],
                    "to": [{"group": "", "kind": "Secret", "name": args.tls_secret_name}],
                },
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            )
        gateway = k8s.apiextensions.CustomResource(
            f"{name}-gateway",
            api_version=GATEWAY_API,
            kind="Gateway",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=args.name,
                namespace=args.namespace,
                labels=dict(args.labels),
                annotations=owned({"pulumi.com/waitFor": GATEWAY_READY}),
            ),
            spec={"gatewayClassName": args.gateway_class, "listeners": listeners},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[*args.depends_on, *([grant] if grant else [])],
                custom_timeouts=AWAIT_TIMEOUTS,
            ),
        )
        # Outputs of the Gateway itself, so whatever uses them waits for it to be programmed.
        self.name = gateway.id.apply(lambda _: args.name)
        self.namespace = gateway.id.apply(lambda _: args.namespace)
        self.register_outputs({"name": self.name, "namespace": self.namespace})
