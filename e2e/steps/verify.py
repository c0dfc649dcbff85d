"""`make status` and `make verify` against the live cluster, as far as an API server alone can answer."""

from __future__ import annotations

import sys

from e2e.harness import STACK, E2EFailure, Run
from e2e.plan import step

# Layers a simulated cluster can answer through the API server alone; the others need a kubelet
# (port-forward), a gateway data plane (HTTP) or host DNS for the stack's name.
API_LAYERS = ("pods/", "service/endpoints", "gateway/programmed", "gateway/route", "gateway/host", "network/")


@step("make status and the Kubernetes-API layers of make verify against the live cluster")
def status_and_verify(run: Run) -> None:
    run.sh(sys.executable, "-m", "ops.status", "--stack", STACK)
    verify = run.sh(sys.executable, "-m", "ops.verify", "--stack", STACK, check=False)
    check_verify(verify.stdout)


def check_verify(output: str) -> None:
    lines = [line for line in output.splitlines() if line.startswith(("PASS ", "FAIL "))]
    api = [line for line in lines if line.split(" ", 1)[1].startswith(API_LAYERS)]
    failed = [line for line in api if line.startswith("FAIL ")]
    if not api:
        raise E2EFailure("make verify printed no Kubernetes-API checks")
    if failed:
        raise E2EFailure("make verify failed Kubernetes-API checks:\n  " + "\n  ".join(failed))
    print(f"    {len(api)} Kubernetes-API checks passed; not checkable here: {len(lines) - len(api)}")
