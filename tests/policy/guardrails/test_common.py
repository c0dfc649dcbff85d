"""The shared property helpers: label selectors and URNs read as Kubernetes and Pulumi define them."""

from __future__ import annotations

import pytest

from policy.guardrails.common import selector_matches, stack_of


def test_stack_of_reads_the_urn() -> None:
    assert stack_of("urn:pulumi:prod::wal-service::kubernetes:apps/v1:Deployment::x") == "prod"
    assert stack_of("not-a-urn") == ""


LABELS = {"app": "web", "tier": "front"}


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ({}, True),
        ({"matchLabels": {"app": "web"}}, True),
        ({"matchLabels": {"app": "db"}}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]}, True),
        ({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["back"]}]}, False),
        ({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["front"]}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, True),
        ({"matchExpressions": [{"key": "app", "operator": "Exists"}]}, True),
        ({"matchExpressions": [{"key": "zone", "operator": "Exists"}]}, False),
        ({"matchExpressions": [{"key": "app", "operator": "DoesNotExist"}]}, False),
        ({"matchExpressions": [{"key": "zone", "operator": "DoesNotExist"}]}, True),
    ],
)
def test_selector_matches_follows_label_selector_semantics(selector: dict[str, object], expected: bool) -> None:
    assert selector_matches(selector, LABELS) is expected
