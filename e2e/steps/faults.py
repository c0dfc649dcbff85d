"""Faults (`make e2e-faults`, or `make e2e ONLY=faults`): Ctrl-C and kill -9 of `pulumi up`, the API server
stopping mid-rollout, two `pulumi up` at once, a cluster reset under a deployed stack.

Each case strikes RUNS times at seeded points (e2e/faults.py), then runs a second, uninterrupted `pulumi up`,
`pulumi preview --expect-no-changes` and the cluster-versus-render-versus-state check, and prints one line:
the fault, where it struck, what it left, what the next run did, what was lost or left over.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Sequence
from functools import cache

from e2e import faults
from e2e.faults import COMMAND, FIRST_STEP, NAMESPACE_CREATED, REFRESH, ROLLOUT, Point, WatchedUp
from e2e.harness import E2EFailure, Run
from e2e.plan import step

RUNS = 3
OUTAGE = 20.0  # seconds the API server stays down
FRESH_POINTS = (NAMESPACE_CREATED, COMMAND, ROLLOUT)
UPDATE_POINTS = (FIRST_STEP, COMMAND, ROLLOUT)


@cache
def base_seed() -> int:
    value = faults.seed()
    print(f"    fault seed {value} (E2E_FAULT_SEED={value} strikes at the same points again)", flush=True)
    return value


def points(case: str, choices: Sequence[Point]) -> list[tuple[Point, float]]:
    return faults.plan_points(faults.rng(base_seed(), case), choices, RUNS)


def start_update(run: Run) -> tuple[str, ...]:
    """An update with a rollout and a command: logLevel flipped (the Deployment rolls) and the host claim check
    replaced (a command:local:Command runs, as after a change of host)."""
    faults.flip_log_level(run)
    return ("--replace", run.urn("command:local:Command", "-host-claim-check"))


def reach(up: WatchedUp, point: Point, delay: float, case: str) -> str:
    """Wait for the point's line, then the delay; the last resource step seen when the fault strikes."""
    if up.wait_for(point.pattern) is None:
        code = up.wait()
        raise E2EFailure(f"{case}: pulumi up ended (exit {code}) before any line matched {point.pattern!r}")
    time.sleep(delay)
    return up.last_progress()


def interrupt(run: Run, case: str, sig: signal.Signals, scenario: str) -> None:
    for point, delay in points(case, FRESH_POINTS if scenario == "fresh" else UPDATE_POINTS):
        for attempt in range(1, 4):
            args: tuple[str, ...] = ()
            if scenario == "fresh":
                faults.fresh_stack(run)
            else:
                args = start_update(run)
            up = WatchedUp(run, *args)
            struck = reach(up, point, delay, case)
            code, exit_line, stray = strike(up, sig)
            if not faults.ended_on_its_own(sig, code):
                break
            # On simulated nodes the last steps take a fraction of a second: the up had finished on its own.
            print(f"    attempt {attempt}: pulumi up ended (exit {code}) before the {sig.name}; again", flush=True)
            delay = 0.0
        else:
            raise E2EFailure(f"{case}: pulumi up ended before the {sig.name} at {point.name} in 3 attempts")
        left = faults.after_fault(run, exit_line + (f" (attempt {attempt})" if attempt > 1 else ""), stray)
        then = faults.next_up(run)
        where = f"{point.name}+{delay:g}s, last step '{struck}'"
        faults.settle(run, f"{sig.name} {scenario}", where, left, then, run.notes)


def strike(up: WatchedUp, sig: signal.Signals) -> tuple[int | None, str, list[str]]:
    """The signal, as a terminal's Ctrl-C or a kill -9 sends it: the exit code, a line on how it ended, and the
    processes of the up still running after it."""
    sent = time.monotonic()
    if sig is signal.SIGINT:
        # A terminal's Ctrl-C reaches the whole foreground process group, plugins and program included.
        up.send(signal.SIGINT, group=True)
        code = up.wait()
        if code is None:
            # A second ^C terminates at once (pkg/backend/cancellation_scope.go).
            up.send(signal.SIGINT, group=True)
            code = up.wait(60)
            return code, f"still running {faults.EXIT_TIMEOUT:g} s after ^C; a second ^C: exit {code}", up.survivors()
        return code, f"exit {code} {time.monotonic() - sent:.1f} s after ^C", up.survivors()
    # kill -9 of the CLI alone: nothing of it runs again; what it started may outlive it.
    up.send(signal.SIGKILL, group=False)
    code = up.wait(30)
    time.sleep(2)
    stray = up.survivors()
    up.kill_session()  # what a user would find and end by hand; the next up starts its own
    return code, "CLI killed", stray


@step("SIGINT (Ctrl-C) to pulumi up during a fresh deploy, at 3 seeded points; the next up converges")
def sigint_fresh(run: Run) -> None:
    interrupt(run, "sigint-fresh", signal.SIGINT, "fresh")


@step("SIGINT (Ctrl-C) to pulumi up during an update, at 3 seeded points; the next up converges")
def sigint_update(run: Run) -> None:
    interrupt(run, "sigint-update", signal.SIGINT, "update")


@step("SIGKILL to pulumi up during a fresh deploy, at 3 seeded points; what the next up needs")
def sigkill_fresh(run: Run) -> None:
    interrupt(run, "sigkill-fresh", signal.SIGKILL, "fresh")


@step("SIGKILL to pulumi up during an update, at 3 seeded points; what the next up needs")
def sigkill_update(run: Run) -> None:
    interrupt(run, "sigkill-update", signal.SIGKILL, "update")


@step(f"kube-apiserver stopped during an update's rollout wait, back {OUTAGE:g} s later (3 seeded points)")
def apiserver_outage(run: Run) -> None:
    for point, delay in points("apiserver-outage", (ROLLOUT,)):
        faults.flip_log_level(run)
        up = WatchedUp(run)
        struck = reach(up, point, delay, "apiserver-outage")
        run.cluster.stop_apiserver()
        down = time.monotonic()
        time.sleep(OUTAGE)
        run.cluster.start_apiserver()
        back = time.monotonic() - down
        code = up.wait(600)
        if code is None:
            raise E2EFailure(f"pulumi up still runs 600 s after the API server came back ({back:.0f} s outage)")
        said = "waited it out" if code == 0 else faults.error_line(up.output())
        left = faults.after_fault(run, f"exit {code} ({said})", up.survivors())
        then = faults.next_up(run)
        where = f"{point.name}+{delay:g}s, last step '{struck}', down {back:.0f} s"
        faults.settle(run, "API server down", where, left, then, run.notes)


@step("two pulumi up on one stack at once: the engine's lock refuses one, which changes nothing")
def concurrent_ups(run: Run) -> None:
    # None: both start together. Otherwise the second starts when the first reaches the point: early ones, since on
    # simulated nodes a rollout ends within a second and a later second up would simply run after the first.
    plan: list[tuple[Point | None, float]] = [(None, 0.0), *points("concurrent-ups", (REFRESH, FIRST_STEP))[:2]]
    for point, delay in plan:
        for attempt in range(1, 4):
            faults.flip_log_level(run)
            first = WatchedUp(run)
            where = "both started together"
            if point is not None:
                struck = reach(first, point, delay, "concurrent-ups")
                where = f"second started at {point.name}+{delay:g}s of the first, last step '{struck}'"
            second = WatchedUp(run)
            codes = (first.wait(600), second.wait(600))
            ran = [code == 0 for code in codes]
            if not all(ran) or faults.overlapped(first, second) or faults.overlapped(second, first):
                break
            # The second took the lock only after the first had ended: no fault happened; strike again, sooner.
            print(f"    attempt {attempt}: the first up had ended before the second took the lock; again", flush=True)
            delay = 0.0
        else:
            raise E2EFailure(f"could not start two pulumi up at once in 3 attempts ({where})")
        if all(ran):
            raise E2EFailure(f"two pulumi up ran on one stack at once ({where}): the engine's lock did not refuse")
        refused = [faults.LOCKED in up.output() for up in (first, second)]
        for up, was_refused in zip((first, second), refused, strict=True):
            touched = [line for line in up.lines if faults.progress(line)]
            if was_refused and touched:
                raise E2EFailure(f"a refused pulumi up still touched resources: {touched[:3]}")
        outcome = ", ".join(
            f"{name}: {'refused (locked)' if r else 'ran' if ok else f'failed: {faults.error_line(up.output())}'}"
            for name, up, r, ok in zip(("first", "second"), (first, second), refused, ran, strict=True)
        )
        left = faults.after_fault(run, outcome + (f" (attempt {attempt})" if attempt > 1 else ""), [])
        then = faults.next_up(run)
        faults.settle(run, "two ups at once", where, left, then, run.notes)


def platform(run: Run) -> None:
    """What a recreated cluster gets before anyone runs the stack: volumes and the Gateway API platform."""
    run.storage()
    run.gateway_platform()


@step("the cluster reset under a deployed stack (etcd wiped): make up's pulumi up --refresh rebuilds it (3 points)")
def cluster_reset(run: Run) -> None:
    generator = faults.rng(base_seed(), "cluster-reset")
    whens = ["after a fresh deploy", "after an update", "during an update's rollout"]
    generator.shuffle(whens)
    for when in whens:
        up: WatchedUp | None = None
        where = when
        if when == "after a fresh deploy":
            faults.fresh_stack(run)
            run.up()
        elif when == "after an update":
            faults.flip_log_level(run)
            run.up()
        else:
            faults.flip_log_level(run)
            up = WatchedUp(run)
            delay = round(generator.uniform(0, ROLLOUT.max_delay), 2)
            where += f" ({ROLLOUT.name}+{delay:g}s, last step '{reach(up, ROLLOUT, delay, 'cluster-reset')}')"
        run.cluster.reset()
        platform(run)
        exit_line = "no up running"
        if up is not None:
            code = up.wait(600)
            exit_line = f"the running up: exit {code} ({faults.error_line(up.output()) if code else 'ok'})"
        left = faults.after_fault(run, exit_line, up.survivors() if up else [])
        # What a plain `pulumi up` (no --refresh, unlike make up) would do: compare with the recorded state only.
        stale = run.preview("--expect-no-changes", check=False)
        blind = "saw no changes" if stale.returncode == 0 else "saw changes"
        then = faults.next_up(run)
        then.took.insert(0, f"(a preview without refresh {blind})")
        faults.settle(run, "cluster reset", where, left, then, run.notes)
