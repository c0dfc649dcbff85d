"""`monitoring: servicemonitor` on a cluster without, then with, the Prometheus Operator's CRD."""

from __future__ import annotations

from e2e.harness import PROJECT, E2EFailure, Run
from e2e.plan import step
from e2e.upstream_files import service_monitor_crd


@step("monitoring servicemonitor: refused while the CRD is missing, created once it exists")
def service_monitor(run: Run) -> None:
    run.pulumi("config", "set", f"{PROJECT}:monitoring", "servicemonitor")
    refused = run.up("--skip-preview", policy_pack=False, check=False)
    if refused.returncode == 0 or "no CustomResourceDefinition servicemonitors.monitoring.coreos.com" not in (
        refused.stdout + refused.stderr
    ):
        raise E2EFailure("pulumi up did not stop at the missing ServiceMonitor CRD")
    # Server-side: the operator's full CRD is too large for the last-applied annotation of a client-side apply.
    run.cluster.kubectl("apply", "--server-side", "-f", str(service_monitor_crd()))
    run.cluster.kubectl(
        "wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s"
    )
    run.up("--skip-preview", policy_pack=False)
    run.compare_with_render()
