"""`monitoring: servicemonitor` on a cluster without, then with, the Prometheus Operator's CRD."""

from __future__ import annotations

from e2e.harness import PROJECT, ROOT, E2EFailure, Run
from e2e.plan import step

SERVICE_MONITOR_CRD = ROOT / "e2e" / "crds" / "monitoring.coreos.com_servicemonitors.yaml"


@step("monitoring servicemonitor: refused while the CRD is missing, created once it exists")
def service_monitor(run: Run) -> None:
    run.pulumi("config", "set", f"{PROJECT}:monitoring", "servicemonitor")
    refused = run.up("--skip-preview", policy_pack=False, check=False)
    if refused.returncode == 0 or "no CustomResourceDefinition servicemonitors.monitoring.coreos.com" not in (
        refused.stdout + refused.stderr
    ):
        raise E2EFailure("pulumi up did not stop at the missing ServiceMonitor CRD")
    run.cluster.kubectl("apply", "-f", str(SERVICE_MONITOR_CRD))
    run.cluster.kubectl(
        "wait", "--for=condition=Established", "crd/servicemonitors.monitoring.coreos.com", "--timeout=60s"
    )
    run.up("--skip-preview", policy_pack=False)
    run.compare_with_render()
