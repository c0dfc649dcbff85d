"""The deployed stack as the API server and the engine see it: CEL rules, the render, no changes left."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from e2e.harness import GATEWAY_NAMESPACE, NAMESPACE, E2EFailure, Run
from e2e.plan import step


@step("the real API server enforces the CRDs' CEL rules on copies of our Gateway and HTTPRoute")
def cel_rules(run: Run) -> None:
    """Server-side dry runs of broken copies of the live objects: each must be refused by its CEL rule."""
    route = run.kubectl_json("get", "httproutes.gateway.networking.k8s.io", "wal-service", "-n", NAMESPACE)
    gateway = run.kubectl_json("get", "gateways.gateway.networking.k8s.io", "wal-service", "-n", GATEWAY_NAMESPACE)
    no_port = fresh_copy(route, "e2e-no-port")
    del no_port["spec"]["rules"][0]["backendRefs"][0]["port"]
    twin_listener = fresh_copy(gateway, "e2e-twin-listener")
    twin_listener["spec"]["listeners"].append({**twin_listener["spec"]["listeners"][0], "port": 8080})
    for obj, rule in ((no_port, "Must have port for Service reference"),
                      (twin_listener, "Listener name must be unique within the Gateway")):  # fmt: skip
        proc = run.cluster.kubectl("create", "--dry-run=server", "-f", "-", stdin=json.dumps(obj), check=False)
        if proc.returncode == 0 or rule not in proc.stderr:
            raise E2EFailure(f"{obj['kind']} breaking {rule!r} was not refused: {proc.stdout}{proc.stderr}")
        print(f"    {obj['kind']}: {rule}")


def fresh_copy(obj: Mapping[str, Any], name: str) -> dict[str, Any]:
    """A live object's spec under a new name, without server-set metadata or status."""
    meta = obj["metadata"]
    return {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": {"name": name, "namespace": meta["namespace"]},
        "spec": json.loads(json.dumps(obj["spec"])),
    }


@step("live objects equal `make render` for every field the program sets")
def render_matches(run: Run) -> None:
    run.compare_with_render()


@step("pulumi preview --expect-no-changes, then a second up: no changes, no mandatory violations")
def no_changes(run: Run) -> None:
    run.preview("--expect-no-changes")
    run.up("--expect-no-changes")
