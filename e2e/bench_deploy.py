"""`make bench-deploy`: `pulumi up` as `make up` runs it, and the bare engine, beside `kubectl apply` +
`kubectl rollout status` of the same objects.

All three run in one session on the same simulated cluster (see e2e/run.py) and deploy the same objects: the kubectl
side applies the manifests `make render` prints for the stack. Each side runs four cases (fresh deploy, no-op, one
value changed, tear down), REPS times, interleaved and in a rotated order so that a slow minute of the machine does
not fall on one side only. Figures are printed (median, then the spread), never asserted.

    python -m e2e.bench_deploy
"""

from __future__ import annotations

import shutil
import statistics
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import yaml

from e2e.gateway_api import GatewayControllerStandIn
from e2e.harness import GATEWAY_CLASS, NAMESPACE, PROJECT, STACK, E2EFailure, Run, default_root, toolchain_bin
from ops.stack import up_command

REPS = 3
CASES = ("fresh deploy", "no-op", "one value changed (logLevel)", "tear down")
MAKE_UP, BARE, KUBECTL = "make up", "bare engine", "kubectl"
SIDES = (MAKE_UP, BARE, KUBECTL)
Samples = dict[str, dict[str, list[float]]]
"""side -> case -> seconds, one per repetition."""


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def rotation(rep: int, sides: Sequence[str] = SIDES) -> list[str]:
    """The order of the sides in repetition `rep`: each side goes first once in every len(sides) repetitions."""
    shift = rep % len(sides)
    return [*sides[shift:], *sides[:shift]]


def spread(samples: Sequence[float]) -> tuple[float, float, float]:
    """Median, lowest and highest."""
    return statistics.median(samples), min(samples), max(samples)


def table(samples: Samples, sides: Sequence[str] = SIDES, cases: Sequence[str] = CASES) -> str:
    """One row per case: each side's median (min-max), then each Pulumi side's ratio of medians to kubectl's."""
    head = f"{'case':<30}" + "".join(f"{side:>22}" for side in sides)
    head += "".join(f"{side + ' / kubectl':>22}" for side in sides if side != KUBECTL)
    rows = [head]
    for case in cases:
        cells = []
        for side in sides:
            median, low, high = spread(samples[side][case])
            cells.append(f"{median:6.1f}s ({low:.1f}-{high:.1f})")
        base = statistics.median(samples[KUBECTL][case])
        ratios = [f"{statistics.median(samples[s][case]) / base:.2f}x" for s in sides if s != KUBECTL]
        rows.append(f"{case:<30}" + "".join(f"{c:>22}" for c in cells) + "".join(f"{r:>22}" for r in ratios))
    return "\n".join(rows)


def kubectl_apply(run: Run, manifests: Path) -> None:
    """The old pipeline's deploy: apply everything, then wait for each workload's rollout."""
    run.cluster.kubectl("apply", "-f", str(manifests))
    for doc in yaml.safe_load_all(manifests.read_text()):
        if doc and doc["kind"] in ("Deployment", "StatefulSet"):
            workload = f"{doc['kind'].lower()}/{doc['metadata']['name']}"
            run.cluster.kubectl("rollout", "status", workload, "-n", NAMESPACE, "--timeout=300s")


def render_to(run: Run, path: Path, *sets: str) -> Path:
    args = [sys.executable, "-m", "tools.render", STACK]
    for item in sets:
        args += ["--set", item]
    path.write_text(run.sh(*args, echo=False).stdout)
    return path


def make_up_args(run: Run) -> list[str]:
    """`make up`'s pulumi arguments (ops/stack.py), without the stack, which Run.pulumi adds."""
    command = up_command(STACK, root=run.work)
    at = command.index("--stack")
    return command[1:at] + command[at + 2 :]


def pulumi_cases(run: Run, up: Sequence[str], destroy: Sequence[str]) -> Mapping[str, float]:
    fresh = timed(lambda: run.pulumi(*up))
    noop = timed(lambda: run.pulumi(*up))
    run.pulumi("config", "set", f"{PROJECT}:logLevel", "warning")
    change = timed(lambda: run.pulumi(*up))
    teardown = timed(lambda: run.pulumi(*destroy))
    run.pulumi("config", "set", f"{PROJECT}:logLevel", "debug")
    return dict(zip(CASES, (fresh, noop, change, teardown), strict=True))


def kubectl_cases(run: Run, base: Path, changed: Path) -> Mapping[str, float]:
    fresh = timed(lambda: kubectl_apply(run, base))
    noop = timed(lambda: kubectl_apply(run, base))
    change = timed(lambda: kubectl_apply(run, changed))
    teardown = timed(lambda: run.cluster.kubectl("delete", "-f", str(changed), "--wait=true", "--timeout=300s"))
    return dict(zip(CASES, (fresh, noop, change, teardown), strict=True))


def main() -> int:
    root = default_root().with_name("wal-service-bench-deploy")
    run = Run(root, toolchain_bin())
    run.prepare()
    publisher = GatewayControllerStandIn(run.cluster, GATEWAY_CLASS)
    samples: Samples = {side: {case: [] for case in CASES} for side in SIDES}
    try:
        run.cluster.start()
        # A released volume is not bound again (no provisioner): one per fresh deploy of the database's claim.
        run.storage(count=REPS * len(SIDES) + 1)
        run.gateway_platform()
        run.configure()
        publisher.start()
        base = render_to(run, root / "base.yaml")
        changed = render_to(run, root / "changed.yaml", f"{PROJECT}:logLevel=warning")
        sides: dict[str, Callable[[], Mapping[str, float]]] = {
            MAKE_UP: lambda: pulumi_cases(run, make_up_args(run), ("destroy", "--yes")),
            BARE: lambda: pulumi_cases(run, ("up", "--yes", "--skip-preview"), ("destroy", "--yes", "--skip-preview")),
            KUBECTL: lambda: kubectl_cases(run, base, changed),
        }
        for rep in range(REPS):
            for side in rotation(rep):
                print(f"==> repetition {rep + 1}/{REPS}: {side}", flush=True)
                for case, seconds in sides[side]().items():
                    samples[side][case].append(seconds)
                run.wait_namespace_gone(timeout=300)
    except E2EFailure as exc:
        print(f"bench-deploy failed: {exc}")
        return 1
    finally:
        publisher.stopped.set()
        run.cluster.stop()
    print(f"\n{REPS} interleaved repetitions; median (lowest-highest)")
    print(table(samples))
    print(
        f"{MAKE_UP}: `pulumi {' '.join(make_up_args(run))}` and `pulumi destroy --yes` (previews, policy pack, refresh)"
    )
    print(f"{BARE}: `pulumi up --yes --skip-preview`, `pulumi destroy --yes --skip-preview` (no pack, no refresh)")
    print(f"{KUBECTL}: apply + rollout status of the workloads; delete --wait")
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
