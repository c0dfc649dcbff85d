"""Faults on a real `pulumi up`: the machinery of e2e/steps/faults.py.

A `WatchedUp` runs `pulumi up` in a session of its own (a terminal's process group) and reads its progress line
by line, so that a fault strikes at a point of the deployment: just after the Namespace is created, while a
command:local:Command runs, while the engine waits for the Deployment's rollout. A seeded delay after that
line moves the point within it; the seed is printed, and E2E_FAULT_SEED=<seed> repeats the same points.

After the fault, `after_fault` records what the engine left (pending operations in `pulumi stack export`, a
lock file of the file:// backend, processes still running, objects the state and cluster disagree on), then
`next_up` runs the second, uninterrupted `pulumi up`, taking only the steps a user is told to take, and says
which. Every case then ends with `pulumi preview --expect-no-changes` and `Run.converged()`, and prints one line.
"""

from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from e2e import inventory
from e2e.harness import POLICY_PACK, PROJECT, STACK, E2EFailure, Run

# The engine's own lock on a file:// stack (pkg/backend/diy/lock.go): taken by up, refresh and destroy.
LOCKED = "the stack is currently locked"
PENDING_WARNING = "pending operations from previous deployment"
EXIT_TIMEOUT = 180.0


@dataclass(frozen=True)
class Point:
    name: str
    """What the one-line summary calls it."""
    pattern: str
    """A line of `pulumi up`'s progress that marks it (a regular expression)."""
    max_delay: float
    """The seeded delay after that line is drawn from [0, max_delay) seconds."""


NAMESPACE_CREATED = Point("after-namespace", r"kubernetes:core/v1:Namespace\s.*\bcreated\b", 1.0)
COMMAND = Point("command", r"command:local:Command\s.*\b(creating|replacing|creating replacement)\b", 0.3)
ROLLOUT = Point("rollout", r"kubernetes:apps/v1:Deployment\s.*\b(creating|updating)\b", 2.0)
# An update leaves the Namespace alone: its first point is the first resource the update touches.
FIRST_STEP = Point("first-step", r"\b(creating|updating|replacing)\b", 0.5)
# The refresh of the preview phase: the whole preview and update are still ahead.
REFRESH = Point("refresh", r"\brefreshing\b", 0.5)
# What `pulumi up` prints once it holds the stack's lock: a file:// backend locks before the preview
# (pkg/backend/diy/backend.go, Update: b.Lock, then PreviewThenPromptThenExecute).
HOLDS_LOCK = r"^(Previewing update|Updating) \("


def seed() -> int:
    """E2E_FAULT_SEED, or a new one; printed by the caller so that a run can be repeated."""
    given = os.environ.get("E2E_FAULT_SEED", "")
    return int(given) if given else random.SystemRandom().randrange(1, 10**6)


def rng(base: int, case: str) -> random.Random:
    """One generator per case: `make e2e ONLY=<case>` with the same seed strikes at the same points."""
    return random.Random(f"{base}-{case}")


def plan_points(generator: random.Random, points: Sequence[Point], runs: int) -> list[tuple[Point, float]]:
    """`runs` strikes: every point once before any twice (shuffled), each with its seeded delay."""
    order: list[Point] = []
    while len(order) < runs:
        batch = list(points)
        generator.shuffle(batch)
        order += batch
    return [(p, round(generator.uniform(0, p.max_delay), 2)) for p in order[:runs]]


TYPE_TOKEN = re.compile(r"\b[a-z][\w-]*:[\w./-]*:[A-Z]\w*\b")  # kubernetes:apps/v1:Deployment, command:local:Command
STEP_VERB = re.compile(r"\b(creat|updat|replac|delet|refresh|read)\w*\b")


def progress(line: str) -> bool:
    """A line of the engine's per-resource progress: a type token and a step (not a diagnostic naming a URN)."""
    return bool(TYPE_TOKEN.search(line) and STEP_VERB.search(line)) and "::" not in line


class WatchedUp:
    """`pulumi up` in a session of its own, its output read line by line (and echoed, indented)."""

    def __init__(self, run: Run, *args: str, policy_pack: bool = True) -> None:
        # --refresh: as make up runs it (ops/stack.py, up_command).
        command = ["pulumi", "up", "--yes", "--refresh", *args, *(POLICY_PACK if policy_pack else ()), "--stack",
                   STACK, "--non-interactive"]  # fmt: skip
        print(f"$ {' '.join(command)}  (watched)", flush=True)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            command, cwd=run.work, env=run.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True,  # its own process group, which a terminal's Ctrl-C reaches as a whole
        )  # fmt: skip
        self.lines: list[str] = []
        self.stamps: list[float] = []
        """time.monotonic() at which each line was read."""
        self.exited_at: float | None = None
        self.changed = threading.Condition()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        threading.Thread(target=self._reap, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        with self.proc.stdout:
            for line in self.proc.stdout:
                print(f"    | {line.rstrip()}", flush=True)
                with self.changed:
                    self.lines.append(line.rstrip())
                    self.stamps.append(time.monotonic())
                    self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def _reap(self) -> None:
        self.proc.wait()
        self.exited_at = time.monotonic()

    def time_of(self, pattern: str) -> float | None:
        """When the first line matching `pattern` was read."""
        regex = re.compile(pattern)
        return next((t for line, t in zip(self.lines, self.stamps, strict=True) if regex.search(line)), None)

    def wait_for(self, pattern: str, timeout: float = 600.0) -> str | None:
        """The first line matching `pattern` (searched from the start), or None once the process has exited."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self.changed:
            while True:
                for line in self.lines[seen:]:
                    if regex.search(line):
                        return line
                seen = len(self.lines)
                if not self.reader.is_alive() or time.monotonic() > deadline:
                    return None
                self.changed.wait(0.5)

    def last_progress(self) -> str:
        return next((line.strip() for line in reversed(self.lines) if progress(line)), "(no resource step yet)")

    def send(self, sig: signal.Signals, group: bool) -> None:
        """To the whole process group (a terminal's Ctrl-C: CLI, language host, program and providers), or the CLI."""
        try:
            if group:
                os.killpg(self.proc.pid, sig)
            else:
                self.proc.send_signal(sig)
        except ProcessLookupError:
            pass

    def wait(self, timeout: float = EXIT_TIMEOUT) -> int | None:
        try:
            code = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        self.reader.join(timeout=10)
        return code

    def survivors(self) -> list[str]:
        """Processes of its session still running: plugins the CLI started and did not stop. By session, not
        process group: the language host puts itself in a group of its own, which a kill -9 of the CLI left
        running (found by the SIGKILL cases)."""
        return sorted(name for _, name in self._session())

    def kill_session(self) -> None:
        for pid, _ in self._session():
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

    def _session(self) -> list[tuple[int, str]]:
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                text = stat.read_text()
                name, rest = text.split("(", 1)[1].rsplit(")", 1)
                fields = rest.split()  # state, ppid, pgrp, session, ...
            except (OSError, IndexError, ValueError):
                continue
            if int(fields[3]) == self.proc.pid and fields[0] != "Z":
                found.append((int(stat.parent.name), name))
        return found

    def output(self) -> str:
        return "\n".join(self.lines)


@dataclass
class Left:
    """What a fault left behind, before anything repairs it."""

    exit: str
    pending: list[str]
    locks: int
    processes: list[str]
    disagreements: list[str]

    def summary(self) -> str:
        parts = [self.exit]
        parts.append(f"{len(self.pending)} pending op(s)" + (f" ({', '.join(self.pending)})" if self.pending else ""))
        parts.append(f"{self.locks} lock file(s)")
        if self.processes:
            parts.append(f"still running: {', '.join(self.processes)}")
        counts = Counter(line.rsplit(": ", 1)[-1] for line in self.disagreements)
        parts.append("; ".join(f"{n} {what}" for what, n in sorted(counts.items())) or "state and cluster agree")
        return ", ".join(parts)


def lock_files(run: Run) -> list[Path]:
    """The file:// backend's lock files (<backend>/.pulumi/locks/...): one per running up, or per killed one."""
    return sorted((run.root / "state" / ".pulumi" / "locks").rglob("*.json"))


def after_fault(run: Run, exit_line: str, processes: Sequence[str] = ()) -> Left:
    state = run.export()
    # Described, not raised: the cluster may still be settling.
    found = run.disagreements(state)
    return Left(exit_line, inventory.pending_operations(state), len(lock_files(run)), list(processes), found)


def ended_on_its_own(sig: signal.Signals, code: int | None) -> bool:
    """Whether `pulumi up` had finished before the signal reached it, so that nothing was struck: a Ctrl-C'd up
    exits 1 (cancelled), a killed one -9; a success, or any other code after kill -9, was its own."""
    if sig is signal.SIGKILL:
        return code is not None and code >= 0
    return code == 0


def overlapped(first: WatchedUp, second: WatchedUp) -> bool:
    """Whether the second up took the stack's lock while the first still ran (both ended)."""
    locked_at = second.time_of(HOLDS_LOCK)
    return locked_at is not None and (first.exited_at is None or locked_at < first.exited_at)


def error_line(output: str) -> str:
    """The engine's first `error:` line, or the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    return next((line for line in lines if line.startswith("error:")), lines[-1] if lines else "(no output)")


@dataclass
class NextUp:
    """The second, uninterrupted `pulumi up` and what it took to converge."""

    took: list[str] = field(default_factory=list)
    warned_pending: bool = False

    def summary(self) -> str:
        said = "; warned of pending operations" if self.warned_pending else ""
        return ("pulumi up converged" + said) if not self.took else " -> ".join([*self.took, "converged"])


def preflight_fix(run: Run, check: str) -> str:
    """What `make preflight` (the first thing `make up` runs) tells a user to do about `check`; the case fails when
    it says nothing about it."""
    proc = run.sh(sys.executable, "-m", "ops.preflight", "--stack", STACK, check=False, echo=False)
    found = [line for line in proc.stdout.splitlines() if line.split(":", 1)[0].split(maxsplit=1)[-1] == check]
    fixes = [line.split(" -> fix: ", 1)[1] for line in found if " -> fix: " in line]
    if not fixes:
        raise E2EFailure(f"make preflight names no fix for {check!r}:\n{proc.stdout}")
    print(f"    make preflight: {found[0]}", flush=True)
    return fixes[0]


def next_up(run: Run, *args: str) -> NextUp:
    """`pulumi up`; when it stops, only what `make preflight` (which `make up` runs first) tells a user, each step
    recorded. A stop that it names no remedy for fails the case."""
    result = NextUp()
    args = ("--refresh", *args)  # as make up runs it (ops/stack.py, up_command)
    proc = run.up(*args, check=False)
    output = proc.stdout + proc.stderr
    if proc.returncode != 0 and LOCKED in output:
        fix = preflight_fix(run, "state lock")
        expected = f"pulumi cancel --yes --stack {STACK}, then make up STACK={STACK}"
        if fix != expected:
            raise E2EFailure(f"make preflight's fix for the killed deploy's lock is {fix!r}, not {expected!r}")
        result.took.append(f"refused ({LOCKED}) -> preflight: pulumi cancel --yes")
        run.pulumi("cancel", "--yes")
        proc = run.up(*args, check=False)
        output = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise E2EFailure(f"the next pulumi up failed (exit {proc.returncode}): {error_line(output)}")
    result.warned_pending = PENDING_WARNING in output
    pending = inventory.pending_operations(run.export())
    if pending:
        # The engine keeps pending CREATE operations through every up until a refresh clears them
        # (pkg/backend/snapshot.go: "we don't want to clear pending CREATE operations"); non-interactively only
        # --clear-pending-creates does (pulumi docs, "Interrupted updates"; `pulumi refresh` reference).
        fix = preflight_fix(run, "interrupted deploy")
        expected = f"after make up: pulumi refresh --clear-pending-creates --yes --stack {STACK}"
        if fix != expected:
            raise E2EFailure(f"make preflight's fix for pending creates is {fix!r}, not {expected!r}")
        result.took.append(
            f"{len(pending)} pending create(s) kept -> preflight: pulumi refresh --clear-pending-creates"
        )
        run.pulumi("refresh", "--clear-pending-creates", "--yes")
        still = inventory.pending_operations(run.export())
        if still:
            raise E2EFailure(f"pending operations survive pulumi refresh --clear-pending-creates: {still}")
    return result


def settle(run: Run, case: str, where: str, left: Left, then: NextUp, record: list[str]) -> None:
    """The end of every case: no changes left, the cluster as rendered; then its one line."""
    run.preview("--expect-no-changes")
    run.converged()
    line = f"FAULT {case} @ {where} | left: {left.summary()} | next: {then.summary()} | after: nothing lost, none left"
    record.append(line)
    print(line, flush=True)


def fresh_stack(run: Run) -> None:
    """The stack destroyed, as before a first deploy, with a free volume for the database's claim."""
    run.stop_gateway_controller()
    run.pulumi("destroy", "--yes")
    run.wait_namespace_gone(timeout=180)
    add_volume(run)
    run.start_gateway_controller()


def add_volume(run: Run) -> None:
    """One more PersistentVolume: the destroyed claim's volume stays Released (reclaim Delete, no provisioner)."""
    volumes = run.kubectl_json("get", "persistentvolumes", "-l", "e2e=storage")["items"]
    run.storage(len(volumes) + 1)


def flip_log_level(run: Run) -> str:
    """An update that rolls the Deployment: logLevel to the other of debug and warning."""
    current = run.pulumi("config", "get", f"{PROJECT}:logLevel", check=False).stdout.strip()
    value = "debug" if current != "debug" else "warning"
    run.pulumi("config", "set", f"{PROJECT}:logLevel", value)
    return value
