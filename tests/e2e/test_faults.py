"""The fault machinery without a cluster: seeded points, the watched `pulumi up` (a stand-in script that prints the
engine's progress and starts a child like a plugin), signals to it, and what the next up is allowed to take."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest

from e2e import faults
from e2e.faults import COMMAND, NAMESPACE_CREATED, ROLLOUT, Left, NextUp, WatchedUp, next_up, plan_points, rng
from e2e.harness import E2EFailure, Run

# What `pulumi up --non-interactive` prints, one line per step event; the children stand for plugins: one in the
# CLI's process group, one in a group of its own as the language host puts itself, which the CLI stops when it
# cancels. Python, not sh: a non-interactive shell's background child ignores SIGINT, which a plugin does not.
FAKE_PULUMI = f"""#!{sys.executable}
import signal, subprocess, sys, time
child = subprocess.Popen(["sleep", "300"])
host = subprocess.Popen(["sleep", "301"], process_group=0)
def cancel(*_):
    print("^C received; cancelling. If you would like to terminate immediately, press ^C again.", flush=True)
    host.kill()
    sys.exit(255)
signal.signal(signal.SIGINT, cancel)
print("Updating (dev):")
print(" +  kubernetes:core/v1:Namespace wal-dev-namespace creating (0s)")
print(" +  kubernetes:core/v1:Namespace wal-dev-namespace created (0.05s)")
print(" +  command:local:Command wal-dev-host-claim-check creating (0s)", flush=True)
while True:
    time.sleep(0.1)
"""


@pytest.fixture
def fake_run(tmp_path: Path) -> Run:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "pulumi"
    script.write_text(FAKE_PULUMI)
    script.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"}
    return cast(Run, SimpleNamespace(work=tmp_path, env=env))


def test_every_point_strikes_once_before_any_twice_with_a_delay_within_its_bound() -> None:
    plan = plan_points(rng(42, "sigint-fresh"), (NAMESPACE_CREATED, COMMAND, ROLLOUT), 3)
    assert sorted(p.name for p, _ in plan) == ["after-namespace", "command", "rollout"]
    assert all(0 <= delay < point.max_delay for point, delay in plan), plan
    assert [p.name for p, _ in plan_points(rng(42, "x"), (ROLLOUT,), 3)] == ["rollout"] * 3


def test_one_seed_repeats_the_same_points_and_each_case_gets_its_own() -> None:
    def names(case: str, seed: int = 7) -> list[tuple[str, float]]:
        return [(p.name, d) for p, d in plan_points(rng(seed, case), (NAMESPACE_CREATED, COMMAND, ROLLOUT), 6)]

    assert names("sigint-fresh") == names("sigint-fresh")
    assert names("sigint-fresh") != names("sigkill-fresh") or names("sigint-fresh", 8) != names("sigint-fresh")


def test_the_seed_comes_from_the_environment_when_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E2E_FAULT_SEED", "1234")
    assert faults.seed() == 1234
    monkeypatch.delenv("E2E_FAULT_SEED")
    assert 1 <= faults.seed() < 10**6


@pytest.mark.parametrize(
    ("line", "is_progress"),
    [
        (" +  kubernetes:apps/v1:Deployment wal-dev-deployment creating (3s) [1/2] Waiting for app ReplicaSet", True),
        (" ~  kubernetes:apps/v1:Deployment wal-dev-deployment updating (1s)", True),
        (" +  command:local:Command wal-dev-host-claim-check created (0.4s)", True),
        ("Updating (dev):", False),
        ("error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete "
         "the lock file with `pulumi cancel`.", False),
        ("    * urn:pulumi:dev::wal-service::kubernetes:apps/v1:Deployment::d, interrupted while creating", False),
    ],
)  # fmt: skip
def test_progress_lines_are_resource_steps_only(line: str, is_progress: bool) -> None:
    assert faults.progress(line) is is_progress


def test_the_points_match_the_engines_progress_lines() -> None:
    import re

    assert re.search(NAMESPACE_CREATED.pattern, " +  kubernetes:core/v1:Namespace wal-dev-namespace created (0.05s)")
    assert not re.search(NAMESPACE_CREATED.pattern, " +  kubernetes:core/v1:Namespace wal-dev-namespace creating (0s)")
    assert re.search(COMMAND.pattern, " +  command:local:Command wal-dev-host-claim-check creating (0s)")
    assert re.search(COMMAND.pattern, " +- command:local:Command wal-dev-host-claim-check replacing (0s)")
    assert re.search(ROLLOUT.pattern, " ~  kubernetes:apps/v1:Deployment wal-dev-deployment updating (2s)")


def test_ctrl_c_reaches_the_whole_group_and_leaves_no_process(fake_run: Run) -> None:
    up = WatchedUp(fake_run, policy_pack=False)
    try:
        assert up.wait_for(NAMESPACE_CREATED.pattern, timeout=30) is not None
        assert up.wait_for(COMMAND.pattern, timeout=30) is not None
        assert up.last_progress().startswith("+  command:local:Command")
        up.send(signal.SIGINT, group=True)
        assert up.wait(30) == 255
        assert "^C received; cancelling" in up.output()
        assert up.survivors() == [], "the child got the group's SIGINT too"
    finally:
        up.kill_session()


def test_kill_9_of_the_cli_alone_leaves_its_children_which_are_found(fake_run: Run) -> None:
    up = WatchedUp(fake_run, policy_pack=False)
    try:
        assert up.wait_for(COMMAND.pattern, timeout=30) is not None
        up.send(signal.SIGKILL, group=False)
        assert up.wait(30) == -signal.SIGKILL
        assert up.survivors() == ["sleep", "sleep"], "the plugin in a process group of its own is found too"
        up.kill_session()
        deadline = time.monotonic() + 10
        while up.survivors() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert up.survivors() == []
    finally:
        up.kill_session()


def test_a_point_never_reached_gives_none_once_the_process_ends(tmp_path: Path, fake_run: Run) -> None:
    (tmp_path / "bin" / "pulumi").write_text("#!/bin/sh\necho 'Updating (dev):'\nexit 0\n")
    up = WatchedUp(fake_run, policy_pack=False)
    assert up.wait_for(ROLLOUT.pattern, timeout=30) is None
    assert up.wait(30) == 0


class ScriptedRun:
    """The calls next_up makes, answered from scripts: up results in order, exports in order."""

    def __init__(self, ups: list[tuple[int, str]], exports: list[list[str]], preflight: str = "") -> None:
        self.ups, self.exports, self.calls = list(ups), list(exports), list[tuple[str, ...]]()
        self.preflight = preflight or PREFLIGHT

    def sh(self, *args: str, check: bool = True, echo: bool = True) -> subprocess.CompletedProcess[str]:
        assert args[1:3] == ("-m", "ops.preflight"), args
        self.calls.append(("preflight",))
        return subprocess.CompletedProcess(args, 1, self.preflight, "")

    def up(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        self.calls.append(("up", *args))
        code, out = self.ups.pop(0)
        return subprocess.CompletedProcess(["pulumi", "up"], code, out, "")

    def pulumi(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        self.calls.append(args)
        return subprocess.CompletedProcess(["pulumi"], 0, "", "")

    def export(self) -> Any:
        pending = self.exports.pop(0) if self.exports else []
        ops = [{"type": "creating", "resource": {"urn": f"urn:pulumi:dev::p::t::{n}"}} for n in pending]
        return {"deployment": {"resources": [], "pending_operations": ops}}


# What make preflight prints after a killed deploy (its lines are tested in tests/ops/test_preflight.py).
PREFLIGHT = """ok   state: backend file:///s
FAIL state lock: stack dev is locked by a pulumi that no longer runs (pid 7, since 2026-12-07T21:00:00Z): a deploy \
was killed before it could unlock -> fix: pulumi cancel --yes --stack dev, then make up STACK=dev
WARN interrupted deploy: stack dev's state still lists 1 create(s) a killed deploy began (wal-dev-deployment); \
pulumi up makes them again -> fix: after make up: pulumi refresh --clear-pending-creates --yes --stack dev
""".replace("\\\n", "")

LOCK_ERROR = (
    "error: the stack is currently locked by 1 lock(s). Either wait for the other process(es) to end or delete the "
    "lock file with `pulumi cancel`.\n  file:///s/.pulumi/locks/organization/wal-service/dev/x.json: created by root"
)


def test_a_next_up_that_just_works_takes_nothing() -> None:
    run = ScriptedRun([(0, "Resources:\n    3 updated")], [[]])
    result = next_up(cast(Run, run))
    assert result.took == [] and result.summary() == "pulumi up converged"
    assert run.calls == [("up", "--refresh")]


def test_a_stale_lock_takes_pulumi_cancel_and_kept_pending_creates_take_a_clearing_refresh() -> None:
    warned = "warning: Attempting to deploy or update resources with 1 pending operations from previous deployment."
    run = ScriptedRun([(255, LOCK_ERROR), (0, warned)], [["wal-dev-deployment"], []])
    result = next_up(cast(Run, run))
    assert run.calls == [("up", "--refresh"), ("preflight",), ("cancel", "--yes"), ("up", "--refresh"), ("preflight",),
                         ("refresh", "--clear-pending-creates", "--yes")]  # fmt: skip
    assert result.warned_pending
    assert result.summary() == (
        "refused (the stack is currently locked) -> preflight: pulumi cancel --yes -> 1 pending create(s) kept -> "
        "preflight: pulumi refresh --clear-pending-creates -> converged"
    )


@pytest.mark.parametrize(
    ("preflight", "complaint"),
    [
        ("ok   state lock: no other pulumi is changing stack dev\n", "make preflight names no fix for 'state lock'"),
        (PREFLIGHT.replace("pulumi cancel --yes --stack dev, then ", ""), "fix for the killed deploy's lock is"),
    ],
)
def test_a_lock_preflight_does_not_explain_fails_the_case(preflight: str, complaint: str) -> None:
    """The user's way out is what make up (through preflight) prints, not what the harness knows."""
    run = ScriptedRun([(255, LOCK_ERROR)], [], preflight)
    with pytest.raises(E2EFailure, match=re.escape(complaint)):
        next_up(cast(Run, run))
    assert ("cancel", "--yes") not in run.calls


def test_any_other_stop_fails_the_case_with_the_engines_error_line() -> None:
    run = ScriptedRun([(255, "Diagnostics:\nerror: update failed\nmore")], [])
    with pytest.raises(E2EFailure, match=r"the next pulumi up failed \(exit 255\): error: update failed"):
        next_up(cast(Run, run))


def test_pending_operations_that_survive_the_clearing_refresh_fail_the_case() -> None:
    run = ScriptedRun([(0, "")], [["a"], ["a"]])
    with pytest.raises(E2EFailure, match="pending operations survive"):
        next_up(cast(Run, run))


def test_the_summary_of_what_a_fault_left_counts_each_kind_of_disagreement() -> None:
    left = Left(
        "CLI killed",
        ["creating wal-dev-deployment"],
        1,
        ["pulumi-resource-kubernetes"],
        ["Deployment.apps ns/wal-service: in the cluster, not in the state", "Service ns/x: in the cluster, not in "
         "the state", "ConfigMap ns/y: rendered, missing from the cluster"],
    )  # fmt: skip
    assert left.summary() == (
        "CLI killed, 1 pending op(s) (creating wal-dev-deployment), 1 lock file(s), still running: "
        "pulumi-resource-kubernetes, 2 in the cluster, not in the state; 1 rendered, missing from the cluster"
    )
    assert NextUp(warned_pending=True).summary() == "pulumi up converged; warned of pending operations"


def watched(lines: list[tuple[float, str]], exited_at: float | None) -> WatchedUp:
    """A finished WatchedUp with its lines read at the given times."""
    up = object.__new__(WatchedUp)
    up.lines, up.stamps, up.exited_at = [text for _, text in lines], [t for t, _ in lines], exited_at
    return up


FIRST = watched([(0.1, "Previewing update (dev):"), (3.0, "Updating (dev):"), (6.0, "Resources:")], exited_at=7.0)


@pytest.mark.parametrize(
    ("second", "overlap"),
    [
        # The second held the lock while the first still ran: two ups at once, which the lock must prevent.
        (watched([(5.0, "Previewing update (dev):"), (9.0, "Resources:")], 10.0), True),
        # It took the lock only after the first had ended: one after the other, not a fault at all.
        (watched([(7.5, "Previewing update (dev):"), (9.0, "Resources:")], 10.0), False),
        # Refused: it never held the lock.
        (watched([(1.0, "error: " + faults.LOCKED + " by 1 lock(s).")], 1.2), False),
    ],
)
def test_two_ups_overlap_only_when_the_second_took_the_lock_before_the_first_ended(
    second: WatchedUp, overlap: bool
) -> None:
    assert faults.overlapped(FIRST, second) is overlap
    assert re.search(faults.HOLDS_LOCK, "Updating (dev):") and not re.search(faults.HOLDS_LOCK, "  Updating... (dev)")


@pytest.mark.parametrize(
    ("sig", "code", "own"),
    [
        (signal.SIGINT, 1, False),  # cancelled by the ^C
        (signal.SIGINT, 0, True),  # it had succeeded already
        (signal.SIGINT, None, False),  # still running after a second ^C: struck
        (signal.SIGKILL, -signal.SIGKILL, False),
        (signal.SIGKILL, 0, True),
        (signal.SIGKILL, 255, True),  # it had failed on its own before the kill
    ],
)
def test_a_fault_after_the_up_had_ended_is_told_apart(sig: signal.Signals, code: int | None, own: bool) -> None:
    assert faults.ended_on_its_own(sig, code) is own
