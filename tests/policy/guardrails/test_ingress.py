"""Routing policies on hand-built Ingresses and HTTPRoutes."""

from __future__ import annotations

from policy.guardrails.ingress import (
    REWRITE_ANNOTATIONS,
    check_httproute_no_path_rewrite,
    check_ingress_no_path_rewrite,
    check_route_unique_host,
)
from tests.policy.builders import HTTPROUTE, INGRESS, findings, httproute, ingress, stack_findings, urn
from tests.policy.engine import Resource


def test_ingress_rewrite_annotations_are_rejected() -> None:
    assert findings(check_ingress_no_path_rewrite, ingress("a")) == []
    for key in REWRITE_ANNOTATIONS:
        found = findings(check_ingress_no_path_rewrite, ingress("a", annotations={key: "/$2"}))
        assert len(found) == 1 and key in found[0] and "Prefix" in found[0]


def test_ingress_regex_path_is_rejected() -> None:
    resource = ingress("a")
    resource.props["spec"]["rules"][0]["http"]["paths"][0]["path"] = "/api(/|$)(.*)"
    assert len(findings(check_ingress_no_path_rewrite, resource)) == 1


def test_ingress_without_metadata_or_rules_is_fine() -> None:
    assert findings(check_ingress_no_path_rewrite, Resource(INGRESS, "x", urn(INGRESS, "x"), {})) == []
    assert findings(check_httproute_no_path_rewrite, Resource(HTTPROUTE, "x", urn(HTTPROUTE, "x"), {})) == []


def test_httproute_url_rewrite_is_rejected_on_rules_and_backends() -> None:
    assert findings(check_httproute_no_path_rewrite, httproute("a")) == []
    rewrite = {"type": "URLRewrite", "urlRewrite": {"path": {"type": "ReplacePrefixMatch", "replacePrefixMatch": "/"}}}
    on_rule = httproute("a")
    on_rule.props["spec"]["rules"][0]["filters"] = [rewrite]
    on_backend = httproute("b")
    on_backend.props["spec"]["rules"][0]["backendRefs"][0]["filters"] = [rewrite]
    for resource in (on_rule, on_backend):
        found = findings(check_httproute_no_path_rewrite, resource)
        assert len(found) == 1 and "URLRewrite" in found[0] and "PathPrefix /" in found[0], resource.name
    # Header changes are not rewrites.
    headers = httproute("c")
    headers.props["spec"]["rules"][0]["filters"] = [{"type": "RequestHeaderModifier", "requestHeaderModifier": {}}]
    assert findings(check_httproute_no_path_rewrite, headers) == []


def test_httproute_regex_path_is_rejected() -> None:
    resource = httproute("a")
    resource.props["spec"]["rules"][0]["matches"][0]["path"] = {"type": "RegularExpression", "value": "/api/(.*)"}
    found = findings(check_httproute_no_path_rewrite, resource)
    assert len(found) == 1 and "/api/(.*)" in found[0]


def test_route_hosts_must_be_unique_across_ingresses_and_httproutes() -> None:
    assert stack_findings(check_route_unique_host, [ingress("a"), ingress("b", "other.example.com")]) == []
    found = stack_findings(check_route_unique_host, [ingress("a"), ingress("b")])
    assert len(found) == 1 and found[0][1] == urn(INGRESS, "b") and "app.example.com" in found[0][0]
    # Two catch-all (host-less) rules collide as well.
    assert len(stack_findings(check_route_unique_host, [ingress("a", None), ingress("b", None)])) == 1
    # An HTTPRoute and an Ingress for one host (case does not matter in host names).
    mixed = stack_findings(check_route_unique_host, [ingress("a"), httproute("r", ["APP.example.com"])])
    assert len(mixed) == 1 and mixed[0][1] == urn(HTTPROUTE, "r")
    assert len(stack_findings(check_route_unique_host, [httproute("r"), httproute("s")])) == 1
    assert len(stack_findings(check_route_unique_host, [httproute("r", []), httproute("s", [])])) == 1
    assert stack_findings(check_route_unique_host, [httproute("r"), httproute("s", ["other.example.com"])]) == []


def test_the_same_route_seen_twice_is_not_a_conflict() -> None:
    """One resource reaching the check as two objects (same URN) claims its host once."""
    for build in (lambda: ingress("a"), lambda: httproute("a")):
        first, again = build(), build()
        assert first is not again and first.urn == again.urn
        assert stack_findings(check_route_unique_host, [first, again]) == []
