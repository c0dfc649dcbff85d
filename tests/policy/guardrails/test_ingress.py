"""Ingress routing policies on hand-built Ingresses."""

from __future__ import annotations

from policy.guardrails.ingress import REWRITE_ANNOTATIONS, check_ingress_no_path_rewrite, check_ingress_unique_host
from tests.policy.builders import INGRESS, findings, ingress, stack_findings, urn
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


def test_ingress_hosts_must_be_unique() -> None:
    assert stack_findings(check_ingress_unique_host, [ingress("a"), ingress("b", "other.example.com")]) == []
    found = stack_findings(check_ingress_unique_host, [ingress("a"), ingress("b")])
    assert len(found) == 1 and found[0][1] == urn(INGRESS, "b") and "app.example.com" in found[0][0]
    # Two catch-all (host-less) rules collide as well.
    assert len(stack_findings(check_ingress_unique_host, [ingress("a", None), ingress("b", None)])) == 1


def test_the_same_ingress_seen_twice_is_not_a_conflict() -> None:
    """One resource reaching the check as two objects (same URN) claims its host once."""
    first, again = ingress("a"), ingress("a")
    assert first is not again and first.urn == again.urn
    assert stack_findings(check_ingress_unique_host, [first, again]) == []
