"""`make e2e`: the program through the real Pulumi CLI and Kubernetes provider against a real API server.

    python -m e2e.run               # build (or reuse) the toolchain, run every step, tear everything down
    python -m e2e.run --only drift  # `make e2e ONLY=drift`: the steps drift needs, then that group (or step)
    python -m e2e.run --from quota  # `make e2e FROM=quota`: the steps quota needs, then it and every later one
    python -m e2e.run --only faults # `make e2e-faults`: the fault cases, which the full run leaves out
    python -m e2e.run --list        # the groups and steps, in order
    E2E_KEEP=1 python -m e2e.run    # leave the control plane and the stack up; print how to reach them
    python -m e2e.run --clean       # `make e2e-clean`: stop and remove what a kept run left

The stack is the dev stack from a snapshot of the working tree, switched to `existing` cluster mode
with `pulumi config set` (the only overrides): it targets a throwaway control plane whose nodes kwok
simulates. What the cluster lacks, the harness provides the way the real thing would: PersistentVolumes
for the database claim (a provisioner's job), the pinned Gateway API CRDs with a GatewayClass (a
platform team's), and the Gateway and HTTPRoute status (their controller's; see e2e/gateway_api.py).

Every run, whole or cut down, starts from a fresh control plane and state. The helpers are in
e2e/harness.py, the steps in e2e/steps/ by topic, and GROUPS below is their one order.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time

from e2e.harness import STACK, E2EFailure, Run, clean, default_root, toolchain_bin
from e2e.plan import Group, PlanError, describe, select
from e2e.steps import (
    changes,
    conformance,
    deploy,
    drift,
    faults,
    monitoring,
    refusals,
    rollback,
    scaling,
    setup,
    teardown,
    verify,
)

# A running control plane with the Gateway API platform, and the stack configured for it.
SETUP = ("control-plane", "gateway-platform", "configure")
# The stack deployed: the first up (which, through its group, needs SETUP).
DEPLOYED = ("up",)

GROUPS = (
    Group("setup", (setup.control_plane, setup.gateway_platform, setup.configure)),
    Group("deploy", (deploy.committed_salt, deploy.preview, deploy.up), needs=SETUP),
    Group("conformance", (conformance.cel_rules, conformance.render_matches, conformance.no_changes), needs=DEPLOYED),
    Group(
        "changes",
        (
            changes.log_level_rolls,
            changes.rename_namespace,
            changes.rotate_password,
            changes.rotate_api_key,
            changes.kubeconfig_path,
        ),
        needs=DEPLOYED,
    ),
    Group(
        "refusals",
        (
            refusals.bad_value,
            refusals.plain_api_keys,
            refusals.default_provider_key,
            refusals.placeholder_image,
            refusals.state_backend,
            refusals.pod_security,
        ),
        needs=DEPLOYED,
    ),
    Group("verify", (verify.status_and_verify,), needs=DEPLOYED),
    Group("drift", (drift.quota, drift.make_drift), needs=DEPLOYED),
    Group("monitoring", (monitoring.service_monitor,), needs=DEPLOYED),
    Group(
        "scaling",
        (scaling.autoscaling_on, scaling.autoscaling_off),
        needs=DEPLOYED,
        after={"drift": "the quota and make-drift steps scale the Deployment by hand, which an HPA would undo"},
    ),
    Group("rollback", (rollback.rollback_by_digest,), needs=DEPLOYED),
    # `make e2e-faults`: 21 interrupted or doubled deploys take longer than the rest together, so CI runs them as
    # a second target after `make e2e`, and `make e2e` leaves them out.
    Group(
        "faults",
        (
            faults.sigint_fresh,
            faults.sigint_update,
            faults.sigkill_fresh,
            faults.sigkill_update,
            faults.apiserver_outage,
            faults.concurrent_ups,
            faults.cluster_reset,
        ),
        needs=DEPLOYED,
        on_demand=True,
    ),
    Group("teardown", (teardown.destroy,), needs=DEPLOYED, destroys=True),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="End-to-end run on the real engine and API server.")
    parser.add_argument("--clean", action="store_true", help="stop and remove what a kept run left")
    parser.add_argument("--only", default="", metavar="NAME", help="one group or step, after the steps it needs")
    parser.add_argument(
        "--from", dest="start", default="", metavar="NAME", help="a step (or group) and every later one"
    )
    parser.add_argument("--list", action="store_true", help="print the groups and steps in order")
    args = parser.parse_args(argv)
    root = default_root()
    if args.clean:
        clean(root)
        return 0
    if args.list:
        print(describe(GROUPS))
        return 0
    keep = bool(os.environ.get("E2E_KEEP"))
    try:
        steps = select(GROUPS, only=args.only, start=args.start, keep=keep)
    except PlanError as exc:
        print(f"e2e: {exc}", file=sys.stderr)
        return 2
    selection = f"ONLY={args.only}" if args.only else f"FROM={args.start}" if args.start else ""
    if selection:
        print(f"{selection}: {', '.join(s.name for s in steps)}")
    started = time.monotonic()
    current = ""
    try:
        bin_dir = toolchain_bin()
        run = Run(root, bin_dir)
        print((bin_dir / "VERSIONS").read_text())
        run.prepare()
        try:
            for chosen in steps:
                current = chosen.name
                with run.timed(chosen.title):
                    chosen.action(run)
        finally:
            run.stop_gateway_controller()
            if not keep:
                run.cluster.stop()
    except E2EFailure as exc:
        where = f" at step {current} (alone: make e2e ONLY={current})" if current else ""
        print(f"\nE2E FAILED{where}: {exc}\nlogs: {root / 'cluster' / 'logs'}", file=sys.stderr)
        return 1
    scope = f" ({selection}: {len(steps)} steps)" if selection else ""
    print(f"\ne2e passed in {time.monotonic() - started:.0f} s{scope}")
    for title, seconds in run.timings:
        print(f"  {seconds:7.1f} s  {title}")
    if run.notes:
        print()
        print("\n".join(run.notes))
    if keep:
        print(f"\nkept; `make e2e-clean` removes it. In {run.work}:")
        for key in ("KUBECONFIG", "PULUMI_BACKEND_URL", "PULUMI_CONFIG_PASSPHRASE_FILE"):
            print(f"{key}={run.env[key]}")
        print(f"STACK={STACK}")
        print(f"PATH={bin_dir}")
    else:
        shutil.rmtree(root, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
