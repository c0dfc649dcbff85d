"""Changes made behind Pulumi's back: a hand scale the namespace quota cuts short, a patched NetworkPolicy;
`make drift` reports both and `pulumi up --refresh` puts them back."""

from __future__ import annotations

import json
import sys

from components.validators import amount
from e2e.harness import NAMESPACE, STACK, E2EFailure, Run
from e2e.plan import step

# Past what the dev quota holds (maxReplicas 4 + surge, +25%: 6 service pods beside the database).
SCALED_BY_HAND = 10


@step("the namespace quota holds the stack and refuses pods beyond it")
def quota(run: Run) -> None:
    (found,) = run.kubectl_json("get", "resourcequota", "-n", NAMESPACE)["items"]
    run.wait("the quota controller to count usage", lambda: bool(quota_status(run).get("used")))
    status = quota_status(run)
    over = [key for key, used in status["used"].items() if amount(used) > amount(status["hard"][key])]
    if over:
        raise E2EFailure(f"the stack's own pods exceed its quota: {over} in {status}")
    print(f"    {found['metadata']['name']}: used {status['used']} of {status['hard']}")
    # Someone scales by hand past what the quota holds: the ReplicaSet may create only what fits.
    run.cluster.kubectl("scale", "deployment", "wal-service", "-n", NAMESPACE, f"--replicas={SCALED_BY_HAND}")
    run.wait("a pod creation refused with 'exceeded quota'", lambda: quota_refusal(run) is not None, timeout=60)
    print(f"    {quota_refusal(run)}")


def quota_status(run: Run) -> dict[str, dict[str, str]]:
    status: dict[str, dict[str, str]] = run.kubectl_json("get", "resourcequota", "wal-service-quota", "-n", NAMESPACE)[
        "status"
    ]
    return status


def quota_refusal(run: Run) -> str | None:
    events = run.kubectl_json("get", "events", "-n", NAMESPACE, "--field-selector", "reason=FailedCreate")["items"]
    return next((e["message"] for e in events if "exceeded quota" in e.get("message", "")), None)


# The Deployment's drift is the quota step's hand scale.
@step("make drift reports kubectl's changes one line per resource; pulumi up --refresh undoes them", needs=["quota"])
def make_drift(run: Run) -> None:
    run.cluster.kubectl(
        "patch", "networkpolicy", "allow-dns-egress", "-n", NAMESPACE, "--type=json",
        "-p", json.dumps([{"op": "remove", "path": "/spec/egress/0/ports/1"}]),
    )  # fmt: skip
    found = run.sh(sys.executable, "-m", "ops.drift", "--stack", STACK, check=False)
    lines = [line for line in found.stdout.splitlines() if line.startswith("drift ")]
    expected = {
        f"drift Deployment {NAMESPACE}/wal-service: changed: spec.replicas {SCALED_BY_HAND} (live) -> 1 (program)",
        f"drift NetworkPolicy {NAMESPACE}/allow-dns-egress: changed: spec.egress[0].ports[1] (absent) (live) -> "
        '{"port":53,"protocol":"TCP"} (program)',
    }
    if found.returncode != 1 or set(lines) != expected:
        raise E2EFailure(f"make drift (exit {found.returncode}) reported {lines}, expected {sorted(expected)}")
    run.up("--refresh", "--skip-preview", policy_pack=False)
    replicas = run.deployment()["spec"]["replicas"]
    ports = run.kubectl_json("get", "networkpolicy", "allow-dns-egress", "-n", NAMESPACE)["spec"]["egress"][0]
    if replicas != 1 or len(ports["ports"]) != 2:
        raise E2EFailure(f"pulumi up --refresh left replicas={replicas}, DNS egress ports {ports['ports']}")
    clean = run.sh(sys.executable, "-m", "ops.drift", "--stack", STACK, check=False)
    if clean.returncode != 0:
        raise E2EFailure(f"make drift still reports drift after pulumi up --refresh (exit {clean.returncode})")
