"""Routing (Ingress and Gateway API HTTPRoute): plain prefix paths, no rewriting, and one route per host."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from .common import Report, StackReport, StackResource, as_map, as_seq, declare, dig, on_each_resource, on_the_stack

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
HTTPROUTE = "kubernetes:gateway.networking.k8s.io/v1:HTTPRoute"
REWRITE_ANNOTATIONS = (
    "nginx.ingress.kubernetes.io/rewrite-target",
    "nginx.ingress.kubernetes.io/use-regex",
)


def check_ingress_no_path_rewrite(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    if resource_type != INGRESS:
        return
    annotations = as_map(dig(props, "metadata", "annotations"))
    for key in REWRITE_ANNOTATIONS:
        if key in annotations:
            report(
                f"annotation {key}={annotations[key]!r} rewrites request paths, so the service receives other "
                "paths than the client sent and valid endpoints answer 404. Remove it and route `path: /` "
                "with `pathType: Prefix` to the service."
            )
    for rule in as_seq(dig(props, "spec", "rules")):
        for path in as_seq(dig(rule, "http", "paths")):
            value = str(as_map(path).get("path") or "")
            if re.search(r"[()$^|\\*+?\[\]]", value):
                report(
                    f"path {value!r} is a regular expression, which only some controllers interpret and which "
                    "hides which URLs reach the service; use a plain prefix such as `/` with `pathType: Prefix` "
                    "(no capture groups, no rewriting)."
                )


ingress_no_path_rewrite = declare(
    "ingress-no-path-rewrite",
    on_each_resource(check_ingress_no_path_rewrite),
    description="Ingresses route plain path prefixes to the service: no rewrite-target or use-regex annotation and "
    "no regular-expression paths, so every URL reaches the service unchanged.",
    remediation="Remove the annotations and serve the app under `/` with `pathType: Prefix`.",
    url="https://kubernetes.io/docs/concepts/services-networking/ingress/#path-types",
    severity=Severity.HIGH,
    tags=["ingress", "routing"],
)


def check_httproute_no_path_rewrite(resource_type: str, props: Mapping[str, Any], report: Report) -> None:
    if resource_type != HTTPROUTE:
        return
    for rule in as_seq(dig(props, "spec", "rules")):
        filters = [*as_seq(as_map(rule).get("filters"))]
        filters += [f for ref in as_seq(as_map(rule).get("backendRefs")) for f in as_seq(as_map(ref).get("filters"))]
        for item in filters:
            if as_map(item).get("type") == "URLRewrite":
                report(
                    "a URLRewrite filter rewrites request paths or hosts, so the service receives other paths than "
                    "the client sent and valid endpoints answer 404. Remove the filter and route `PathPrefix /` "
                    "to the service unchanged."
                )
        for match in as_seq(as_map(rule).get("matches")):
            if dig(match, "path", "type") == "RegularExpression":
                report(
                    f"path match {dig(match, 'path', 'value')!r} is a regular expression, whose syntax and support "
                    "differ between Gateway implementations and which hides which URLs reach the service; use "
                    "`type: PathPrefix` with `value: /`."
                )


httproute_no_path_rewrite = declare(
    "httproute-no-path-rewrite",
    on_each_resource(check_httproute_no_path_rewrite),
    description="HTTPRoutes route plain path prefixes to the service: no URLRewrite filter and no "
    "RegularExpression path match, so every URL reaches the service unchanged.",
    remediation="Remove the filter and match `PathPrefix /`.",
    url="https://gateway-api.sigs.k8s.io/reference/spec/#httproutefilter",
    severity=Severity.HIGH,
    tags=["gateway-api", "routing"],
)


def _claimed_hosts(resource_type: str, props: Mapping[str, Any]) -> set[str]:
    """Hosts an Ingress or HTTPRoute serves ("*" for one that serves any host)."""
    spec = as_map(props.get("spec"))
    if resource_type == HTTPROUTE:
        return {str(host).lower() for host in as_seq(spec.get("hostnames"))} or {"*"}
    rules = as_seq(spec.get("rules"))
    hosts = {str(as_map(rule).get("host") or "*").lower() for rule in rules}
    if not rules and spec.get("defaultBackend"):
        hosts.add("*")
    return hosts


def check_route_unique_host(resources: Sequence[StackResource], report: StackReport) -> None:
    owners: dict[str, StackResource] = {}
    for resource in resources:
        if resource.resource_type not in (INGRESS, HTTPROUTE):
            continue
        for host in sorted(_claimed_hosts(resource.resource_type, resource.props)):
            first = owners.setdefault(host, resource)
            if first is not resource and first.urn != resource.urn:
                report(
                    f"{resource.name} serves host {host!r}, which {first.name} already serves; the controller "
                    "merges or picks between them, so requests land on either backend unpredictably. Keep one "
                    "route (Ingress or HTTPRoute) per host and give each environment its own host name.",
                    resource.urn,
                )


route_unique_host = declare(
    "route-unique-host",
    on_the_stack(check_route_unique_host),
    description="One route per host name, Ingresses and HTTPRoutes together: two routes claiming one host send "
    "its requests to either backend unpredictably.",
    remediation="Delete the duplicate route or give each environment its own host.",
    url="https://gateway-api.sigs.k8s.io/api-types/httproute/#hostnames",
    severity=Severity.HIGH,
    tags=["ingress", "gateway-api", "routing"],
)
