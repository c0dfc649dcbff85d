"""What the layers share: label selectors as the API server reads them."""

from __future__ import annotations

from kubernetes.client import V1LabelSelector

from ops.diagnose import checks as d


def test_selector_expressions() -> None:
    from kubernetes.client import V1LabelSelectorRequirement as Req

    sel = V1LabelSelector(
        match_expressions=[Req(key="tier", operator="In", values=["api"]), Req(key="canary", operator="DoesNotExist")]
    )
    assert d.selector_matches(sel, {"tier": "api"})
    assert not d.selector_matches(sel, {"tier": "api", "canary": "1"})
    assert not d.selector_matches(sel, {"tier": "db"})
