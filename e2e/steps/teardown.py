"""`pulumi destroy`, last: nothing of ours may stay behind."""

from __future__ import annotations

from e2e.harness import E2EFailure, Run
from e2e.plan import step


@step("pulumi destroy leaves none of our objects")
def destroy(run: Run) -> None:
    # The status writes stop first: nothing but the destroy then touches the Gateway and HTTPRoute.
    run.stop_gateway_controller()
    run.pulumi("destroy", "--yes")
    run.wait_namespace_gone()
    leftovers = run.cluster.kubectl(
        "get", "all,configmaps,secrets,ingresses,networkpolicies,pvc,serviceaccounts,gateways,httproutes", "-A",
        "-l", "app.kubernetes.io/part-of=wal-service", "-o", "name",
    ).stdout.strip()  # fmt: skip
    if leftovers:
        raise E2EFailure(f"objects left after destroy:\n{leftovers}")
