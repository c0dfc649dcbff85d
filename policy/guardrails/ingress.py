"""Ingress routing: plain prefix paths, and one Ingress per host."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from pulumi_policy import Severity

from .common import Report, StackReport, StackResource, as_map, as_seq, declare, dig, on_each_resource, on_the_stack

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
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


def _ingress_hosts(props: Mapping[str, Any]) -> set[str]:
    spec = as_map(props.get("spec"))
    rules = as_seq(spec.get("rules"))
    hosts = {str(as_map(rule).get("host") or "*") for rule in rules}
    if not rules and spec.get("defaultBackend"):
        hosts.add("*")
    return hosts


def check_ingress_unique_host(resources: Sequence[StackResource], report: StackReport) -> None:
    owners: dict[str, StackResource] = {}
    for resource in resources:
        if resource.resource_type != INGRESS:
            continue
        for host in sorted(_ingress_hosts(resource.props)):
            first = owners.setdefault(host, resource)
            if first is not resource and first.urn != resource.urn:
                report(
                    f"Ingress {resource.name} serves host {host!r}, which Ingress {first.name} already serves; "
                    "the controller merges or picks between them, so requests land on either backend "
                    "unpredictably. Keep one Ingress per host and give each environment its own host name.",
                    resource.urn,
                )


ingress_unique_host = declare(
    "ingress-unique-host",
    on_the_stack(check_ingress_unique_host),
    description="One Ingress per host name: two Ingresses claiming one host route its requests to either "
    "backend unpredictably.",
    remediation="Delete the duplicate Ingress or give each environment its own host.",
    url="https://kubernetes.io/docs/concepts/services-networking/ingress/#name-based-virtual-hosting",
    severity=Severity.HIGH,
    tags=["ingress", "routing"],
)
