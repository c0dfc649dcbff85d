"""The platform the stack lands on, and the stack pointed at it: what every other group builds on."""

from __future__ import annotations

from e2e.harness import Run
from e2e.plan import step


@step("start the control plane (etcd, kube-apiserver, controller-manager, scheduler, kwok x2 nodes)")
def control_plane(run: Run) -> None:
    run.cluster.start()
    run.storage()
    print(run.cluster.kubectl("version").stdout)


@step(
    "install the pinned Gateway API CRDs from the Go module and a GatewayClass (the platform's part)",
    needs=["control-plane"],
)
def gateway_platform(run: Run) -> None:
    run.gateway_platform()


@step("configure the dev stack for the simulated cluster (pulumi config set only)")
def configure(run: Run) -> None:
    run.configure()
