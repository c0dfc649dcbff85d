"""`make e2e ONLY=` and `FROM=`: which steps run, in which order, after what they need; what a bad name gets.

The expected lists are written out by hand: a selection that drops the prelude, starts one step late or
early, or runs the steps in another order than e2e/run.py lists them fails here, without a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from e2e import run as e2e_run
from e2e.plan import Group, PlanError, Step, describe, select, validate

ROOT = Path(__file__).resolve().parent.parent.parent
SETUP = ["control-plane", "gateway-platform", "configure"]
DEPLOYED = [*SETUP, "up"]
FULL = [
    *SETUP,
    "committed-salt", "preview", "up",
    "cel-rules", "render-matches", "no-changes",
    "log-level-rolls", "rename-namespace", "rotate-password", "rotate-api-key", "kubeconfig-path",
    "bad-value", "plain-api-keys", "default-provider-key", "placeholder-image", "state-backend", "pod-security",
    "status-and-verify",
    "quota", "make-drift",
    "service-monitor",
    "autoscaling-on", "autoscaling-off",
    "rollback-by-digest",
    "destroy",
]  # fmt: skip
# On demand (`make e2e-faults`): not in the full run.
FAULTS = ["sigint-fresh", "sigint-update", "sigkill-fresh", "sigkill-update", "apiserver-outage", "concurrent-ups",
          "cluster-reset"]  # fmt: skip


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


@pytest.mark.parametrize(
    ("only", "expected"),
    [
        ("setup", SETUP),
        ("control-plane", ["control-plane"]),
        ("gateway-platform", ["control-plane", "gateway-platform"]),
        ("deploy", [*SETUP, "committed-salt", "preview", "up"]),
        ("preview", [*SETUP, "preview"]),
        ("up", DEPLOYED),
        ("conformance", [*DEPLOYED, "cel-rules", "render-matches", "no-changes"]),
        ("refusals", [*DEPLOYED, "bad-value", "plain-api-keys", "default-provider-key", "placeholder-image",
                      "state-backend", "pod-security"]),
        ("pod-security", [*DEPLOYED, "pod-security"]),
        ("drift", [*DEPLOYED, "quota", "make-drift"]),
        # make drift reports the quota step's hand scale: asked alone, it gets that step first.
        ("make-drift", [*DEPLOYED, "quota", "make-drift"]),
        ("scaling", [*DEPLOYED, "autoscaling-on", "autoscaling-off"]),
        ("rollback", [*DEPLOYED, "rollback-by-digest"]),
        ("faults", [*DEPLOYED, *FAULTS]),
        ("sigkill-update", [*DEPLOYED, "sigkill-update"]),
        ("destroy", [*DEPLOYED, "destroy"]),
    ],
)  # fmt: skip
def test_only_runs_what_the_selection_needs_then_the_selection(only: str, expected: list[str]) -> None:
    assert names(only=only) == expected


@pytest.mark.parametrize("name", FULL[FULL.index("up") + 1 :])
def test_every_step_after_the_first_up_runs_on_a_deployed_stack(name: str) -> None:
    chosen = names(only=name)
    assert chosen[: len(DEPLOYED)] == DEPLOYED, f"ONLY={name} runs {chosen}"
    assert chosen[-1] == name, f"ONLY={name} runs {chosen}"


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        ("control-plane", FULL),
        ("setup", FULL),
        ("preview", [*SETUP, "preview", *FULL[FULL.index("up") :]]),
        ("quota", [*DEPLOYED, "quota", "make-drift", "service-monitor", "autoscaling-on", "autoscaling-off",
                   "rollback-by-digest", "destroy"]),
        ("make-drift", [*DEPLOYED, "quota", "make-drift", "service-monitor", "autoscaling-on", "autoscaling-off",
                        "rollback-by-digest", "destroy"]),
        ("scaling", [*DEPLOYED, "autoscaling-on", "autoscaling-off", "rollback-by-digest", "destroy"]),
        ("autoscaling-off", [*DEPLOYED, "autoscaling-off", "rollback-by-digest", "destroy"]),
        # Starting inside the on-demand group runs the rest of it, then what follows.
        ("faults", [*DEPLOYED, *FAULTS, "destroy"]),
        ("concurrent-ups", [*DEPLOYED, "concurrent-ups", "cluster-reset", "destroy"]),
        ("destroy", [*DEPLOYED, "destroy"]),
    ],
)  # fmt: skip
def test_from_runs_what_the_step_needs_then_it_and_every_later_one(start: str, expected: list[str]) -> None:
    assert names(start=start) == expected


@pytest.mark.parametrize("selection", [{"only": "nope"}, {"start": "nope"}, {"only": "Quota"}])
def test_an_unknown_name_gets_one_line_listing_every_valid_one(selection: dict[str, str]) -> None:
    with pytest.raises(PlanError) as raised:
        select(e2e_run.GROUPS, **selection)
    message = str(raised.value)
    assert "\n" not in message, message
    assert repr(next(iter(selection.values()))) in message, message
    for name in [g.name for g in e2e_run.GROUPS] + FULL:
        assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", message), f"{name} missing from: {message}"


@pytest.mark.parametrize("argv", [["--only", "nope"], ["--from", "nope"], ["--only", "drift", "--from", "quota"]])
def test_main_refuses_a_bad_selection_with_exit_2_before_building_anything(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def no_toolchain() -> Path:
        raise AssertionError("the toolchain was built for a selection that cannot run")

    monkeypatch.setattr(e2e_run, "toolchain_bin", no_toolchain)
    assert e2e_run.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("e2e: "), err


class FakeRun:
    """What main touches of a Run, recording which step titles it ran."""

    ran: list[str] = []

    def __init__(self, root: Path, bin_dir: Path) -> None:
        self.root, self.work, self.env, self.timings = root, root / "work", {}, list[tuple[str, float]]()
        self.notes: list[str] = []
        self.cluster = self
        FakeRun.ran = []

    def prepare(self) -> None:
        self.root.mkdir(parents=True)

    @contextmanager
    def timed(self, title: str) -> Iterator[None]:
        yield
        FakeRun.ran.append(title)
        self.timings.append((title, 0.0))

    def stop_gateway_controller(self) -> None:
        pass

    def stop(self) -> None:
        pass


def toy_step(name: str, needs: tuple[str, ...] = ()) -> Step:
    return Step(name, f"title of {name}", lambda run: None, needs)


TOY = (
    Group("first", (toy_step("a"), toy_step("b"))),
    Group("second", (toy_step("c"), toy_step("d")), needs=("b",)),
    Group("third", (toy_step("e"), toy_step("f", needs=("e",))), needs=("d",)),
    Group("last", (toy_step("g"),), needs=("b",), destroys=True),
)


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([], ["a", "b", "c", "d", "e", "f", "g"]),
        (["--only", "third"], ["b", "d", "e", "f"]),
        (["--only", "f"], ["b", "d", "e", "f"]),
        (["--from", "d"], ["b", "d", "e", "f", "g"]),
        (["--from", "second"], ["b", "c", "d", "e", "f", "g"]),
    ],
)
def test_main_runs_the_selected_steps_in_order(
    argv: list[str], expected: list[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "VERSIONS").write_text("toy\n")
    monkeypatch.setattr(e2e_run, "GROUPS", TOY)
    monkeypatch.setattr(e2e_run, "Run", FakeRun)
    monkeypatch.setattr(e2e_run, "toolchain_bin", lambda: tmp_path)
    monkeypatch.setattr(e2e_run, "default_root", lambda: tmp_path / "root")
    monkeypatch.delenv("E2E_KEEP", raising=False)
    assert e2e_run.main(argv) == 0
    assert FakeRun.ran == [f"title of {name}" for name in expected]
    assert not (tmp_path / "root").exists(), "a run that keeps nothing leaves no directory"


def test_the_one_list_is_valid() -> None:
    validate(e2e_run.GROUPS)


def test_the_full_run_leaves_out_the_on_demand_faults_and_describe_says_how_to_run_them() -> None:
    assert not set(FAULTS) & set(names()), "make e2e must not run the fault cases (make e2e-faults does)"
    assert "only when named: make e2e ONLY=faults" in describe(e2e_run.GROUPS)


def test_an_on_demand_group_is_skipped_by_a_from_that_starts_before_it() -> None:
    toy = (*TOY[:2], Group("extra", (toy_step("x"),), needs=("b",), on_demand=True), *TOY[2:])
    assert [s.name for s in select(toy)] == ["a", "b", "c", "d", "e", "f", "g"]
    assert [s.name for s in select(toy, start="c")] == ["b", "c", "d", "e", "f", "g"]
    assert [s.name for s in select(toy, start="extra")] == ["b", "d", "x", "e", "f", "g"]
    assert [s.name for s in select(toy, only="x")] == ["b", "x"]


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


def test_only_and_from_in_the_docs_name_real_groups_and_steps() -> None:
    known = {g.name for g in e2e_run.GROUPS} | set(FULL) | set(FAULTS)
    for doc in ("README.md", "Makefile", "e2e/run.py"):
        text = (ROOT / doc).read_text()
        used = set(re.findall(r"\b(?:ONLY|FROM)=([\w-]+)", text) + re.findall(r"--(?:only|from) ([\w-]+)", text))
        assert used <= known, f"{doc} names {sorted(used - known)}, which e2e/run.py does not list"
