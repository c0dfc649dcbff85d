"""The service's route from outside the namespace: an HTTPRoute on a Gateway, or an Ingress. One host, `/` with
no rewriting, to the service's Service."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    HTTPIngressPathArgs,
    HTTPIngressRuleValueArgs,
    IngressBackendArgs,
    IngressRuleArgs,
    IngressServiceBackendArgs,
    IngressSpecArgs,
    IngressTLSArgs,
    ServiceBackendPortArgs,
)

from components.app_config import HTTP_PORT, HTTP_PORT_NAME
from components.gateway import AWAIT_TIMEOUTS, GATEWAY_API
from components.labels import APP_NAME

# The route objects' names (the operator's debug commands and make verify read them): the HTTPRoute is named
# like the Service it routes to.
HTTP_ROUTE_NAME = APP_NAME
INGRESS_NAME = f"{APP_NAME}-ingress"


@dataclass(frozen=True)
class GatewayRoute:
    """An HTTPRoute attached to a Gateway; the NetworkPolicy admits that Gateway's data-plane pods."""

    gateway_namespace: str
    """Namespace of the Gateway, where Gateway API puts the data-plane pods it provisions (GEP-1762)."""
    gateway_name: str
    """Name of the Gateway; its data-plane pods carry it in the gateway.networking.k8s.io/gateway-name label."""


@dataclass(frozen=True)
class IngressRoute:
    """An Ingress served by an IngressClass; the NetworkPolicy admits the controller's namespace."""

    class_name: str
    """IngressClass that serves the Ingress."""
    controller_namespace: str
    """Namespace of the ingress controller's pods: the only source the NetworkPolicy admits."""
    tls_secret_name: str = ""
    """Secret with the host's TLS certificate; empty serves plain HTTP."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Extra Ingress annotations."""


@dataclass(frozen=True)
class Routing:
    """How traffic reaches the pods from outside the namespace."""

    host: str
    """Public host name: the route's only hostname."""
    via: GatewayRoute | IngressRoute
    """An HTTPRoute on a Gateway, or an Ingress."""


def route_ready(via: GatewayRoute) -> str:
    """The HTTPRoute's waitFor: `pulumi up` waits until the Gateway's controller accepted the route and resolved
    its backend. Route status is one entry per parent (and other controllers' parents may be listed too), so
    the JSONPath selects our Gateway's entry by name and namespace rather than whichever comes first
    (RFC 9535 filters, which pulumi-kubernetes' waitFor evaluates: pkg/jsonpath, pkg/metadata/overrides.go)."""
    parent = f'@.parentRef.name=="{via.gateway_name}" && @.parentRef.namespace=="{via.gateway_namespace}"'
    return json.dumps(
        [
            f'jsonpath={{.status.parents[?({parent})].conditions[?(@.type=="{condition}")].status}}=True'
            for condition in ("Accepted", "ResolvedRefs")
        ]
    )


def route(
    name: str,
    routing: Routing,
    meta: Callable[..., ObjectMetaArgs],
    service: k8s.core.v1.Service,
    opts: pulumi.ResourceOptions,
) -> pulumi.CustomResource:
    """`{name}-route` (an HTTPRoute) or `{name}-ingress`, whichever `routing.via` asks for."""
    if isinstance(routing.via, GatewayRoute):
        return http_route(f"{name}-route", routing.host, routing.via, meta, service, opts)
    return ingress(f"{name}-ingress", routing.host, routing.via, meta, service, opts)


def ingress(
    name: str,
    host: str,
    via: IngressRoute,
    meta: Callable[..., ObjectMetaArgs],
    service: k8s.core.v1.Service,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.Ingress:
    """One host, `/` with pathType Prefix, no rewriting."""
    return k8s.networking.v1.Ingress(
        name,
        metadata=meta(INGRESS_NAME, annotations=dict(via.annotations) or None),
        spec=IngressSpecArgs(
            ingress_class_name=via.class_name,
            tls=[IngressTLSArgs(hosts=[host], secret_name=via.tls_secret_name)] if via.tls_secret_name else None,
            rules=[
                IngressRuleArgs(
                    host=host,
                    http=HTTPIngressRuleValueArgs(
                        paths=[
                            HTTPIngressPathArgs(
                                path="/",
                                path_type="Prefix",
                                backend=IngressBackendArgs(
                                    service=IngressServiceBackendArgs(
                                        name=service.metadata.name, port=ServiceBackendPortArgs(name=HTTP_PORT_NAME)
                                    )
                                ),
                            )
                        ]
                    ),
                )
            ],
        ),
        # The controller's admission webhook, if any, rejects Ingresses until it answers.
        opts=opts,
    )


def http_route(
    name: str,
    host: str,
    via: GatewayRoute,
    meta: Callable[..., ObjectMetaArgs],
    service: k8s.core.v1.Service,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """One hostname, PathPrefix `/` to the Service, no filters: the URL reaches the service unchanged."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version=GATEWAY_API,
        kind="HTTPRoute",
        metadata=meta(HTTP_ROUTE_NAME, annotations={"pulumi.com/waitFor": route_ready(via)}),
        spec={
            "parentRefs": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "namespace": via.gateway_namespace,
                    "name": via.gateway_name,
                }
            ],
            "hostnames": [host],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": service.metadata.name, "port": HTTP_PORT}],
                }
            ],
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(custom_timeouts=AWAIT_TIMEOUTS)),
    )
