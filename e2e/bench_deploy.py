"""`make bench-deploy`: the real `pulumi up` beside the seed's `kubectl apply` + `kubectl rollout status`.

Both run in one session on the same simulated cluster (see e2e/run.py) and deploy the same objects: the
kubectl side applies the manifests `make render` prints for the stack. Figures are printed, never asserted.

    python -m e2e.bench_deploy
"""

from __future__ import annotations

import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from e2e.gateway_api import GatewayControllerStandIn
from e2e.harness import GATEWAY_CLASS, NAMESPACE, PROJECT, STACK, E2EFailure, Run, default_root, toolchain_bin


def timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def kubectl_apply(run: Run, manifests: Path) -> None:
    """The seed's deploy: apply everything, then wait for each workload's rollout."""
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


def main() -> int:
    root = default_root().with_name("wal-service-bench-deploy")
    run = Run(root, toolchain_bin())
    run.prepare()
    publisher = GatewayControllerStandIn(run.cluster, GATEWAY_CLASS)
    rows: list[tuple[str, float, float]] = []
    try:
        run.cluster.start()
        run.storage(count=4)
        run.gateway_platform()
        run.configure()
        publisher.start()
        up = ["up", "--yes", "--skip-preview"]

        fresh = timed(lambda: run.pulumi(*up))
        noop = timed(lambda: run.pulumi(*up))
        run.pulumi("config", "set", f"{PROJECT}:logLevel", "warning")
        change = timed(lambda: run.pulumi(*up))
        destroy = timed(lambda: run.pulumi("destroy", "--yes", "--skip-preview"))
        run.pulumi("config", "set", f"{PROJECT}:logLevel", "debug")
        run.wait(
            "the namespace to be gone",
            lambda: run.cluster.kubectl("get", "ns", NAMESPACE, check=False).returncode != 0,
            300,
        )

        base = render_to(run, root / "base.yaml")
        changed = render_to(run, root / "changed.yaml", f"{PROJECT}:logLevel=warning")
        k_fresh = timed(lambda: kubectl_apply(run, base))
        k_noop = timed(lambda: kubectl_apply(run, base))
        k_change = timed(lambda: kubectl_apply(run, changed))
        k_delete = timed(lambda: run.cluster.kubectl("delete", "-f", str(changed), "--wait=true", "--timeout=300s"))
        rows = [
            ("fresh deploy", fresh, k_fresh),
            ("no-op", noop, k_noop),
            ("one value changed (logLevel)", change, k_change),
            ("tear down", destroy, k_delete),
        ]
    except E2EFailure as exc:
        print(f"bench-deploy failed: {exc}")
        return 1
    finally:
        publisher.stopped.set()
        run.cluster.stop()
    print(f"\n{'step':<32} {'pulumi':>9} {'kubectl':>9} {'ratio':>7}")
    for name, pulumi_s, kubectl_s in rows:
        print(f"{name:<32} {pulumi_s:8.1f}s {kubectl_s:8.1f}s {pulumi_s / kubectl_s:6.1f}x")
    print("pulumi: `pulumi up --skip-preview` (awaits every object); kubectl: apply + rollout status of the workloads")
    shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
