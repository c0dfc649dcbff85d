"""The e2e plan: which steps a run takes, in which order, and the checks on the one list.

The expected lists are written out by hand: a run in another order than e2e/run.py lists them fails here,
without a cluster.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from e2e import run as e2e_run
from e2e.plan import Group, PlanError, Step, select, validate

ROOT = Path(__file__).resolve().parent.parent.parent
SETUP = ["control-plane", "gateway-platform", "configure"]
DEPLOYED = [*SETUP, "up"]
FULL = [
    *SETUP,
    "committed-salt", "preview", "up",
    "cel-rules", "render-matches", "no-changes",
    "log-level-rolls", "rename-namespace", "rotate-password", "kubeconfig-path",
    "bad-value", "default-provider-key", "placeholder-image", "state-backend", "pod-security",
    "status-and-verify",
    "quota", "make-drift",
    "service-monitor",
    "autoscaling-on", "autoscaling-off",
    "rollback-by-digest",
    "destroy",
]  # fmt: skip


def names(**selection: str | bool) -> list[str]:
    return [s.name for s in select(e2e_run.GROUPS, **selection)]  # type: ignore[arg-type]


def test_the_full_run_is_every_step_in_the_one_lists_order() -> None:
    assert names() == FULL


def test_every_step_has_its_own_title_in_the_timing_table() -> None:
    titles = [s.title for s in select(e2e_run.GROUPS)]
    assert len(set(titles)) == len(titles), f"titles used twice: {sorted(t for t in titles if titles.count(t) > 1)}"


def test_e2e_keep_skips_the_destroy_and_nothing_else() -> None:
    assert names(keep=True) == FULL[:-1]
    assert names(only="teardown", keep=True) == DEPLOYED


def toy_step(name: str, needs: tuple[str, ...] = ()) -> Step:
    return Step(name, f"title of {name}", lambda run: None, needs)


TOY = (
    Group("first", (toy_step("a"), toy_step("b"))),
    Group("second", (toy_step("c"), toy_step("d")), needs=("b",)),
    Group("third", (toy_step("e"), toy_step("f", needs=("e",))), needs=("d",)),
    Group("last", (toy_step("g"),), needs=("b",), destroys=True),
)


def test_the_one_list_is_valid() -> None:
    validate(e2e_run.GROUPS)


def test_scaling_before_the_hand_scaling_is_refused_with_the_reason() -> None:
    groups = list(e2e_run.GROUPS)
    order = [g.name for g in groups]
    drift, scaling = order.index("drift"), order.index("scaling")
    groups[drift], groups[scaling] = groups[scaling], groups[drift]
    with pytest.raises(PlanError, match=r"group scaling must come after group drift: .*scale the Deployment by hand"):
        validate(groups)


@pytest.mark.parametrize(
    ("groups", "message"),
    [
        ((TOY[1], TOY[0], *TOY[2:]), "step c needs b, which the list does not run before it"),
        ((*TOY[:2], Group("x", (toy_step("h", needs=("e",)),)), *TOY[2:]), "step h needs e"),
        ((*TOY[:3], TOY[3], Group("after", (toy_step("h"),))), "group last destroys the stack, so it must be last"),
        ((*TOY[:3], Group("dup", (toy_step("a"),)), TOY[3]), "names used twice among the e2e groups and steps: a"),
        ((*TOY[:3], Group("e", (toy_step("h"),)), TOY[3]), "names used twice among the e2e groups and steps: e"),
    ],
)
def test_a_list_that_cannot_run_in_its_order_is_refused(groups: tuple[Group, ...], message: str) -> None:
    with pytest.raises(PlanError, match=re.escape(message)):
        validate(groups)
