"""Changes to a deployed stack: each reaches the pods (or, for how the cluster is found, replaces nothing)."""

from __future__ import annotations

from typing import Any

from e2e.harness import NAMESPACE, PROJECT, E2EFailure, Run
from e2e.plan import step


@step("a config change (logLevel) rolls the Deployment")
def log_level_rolls(run: Run) -> None:
    before = run.template_hash()
    run.pulumi("config", "set", f"{PROJECT}:logLevel", "warning")
    run.up()
    after = run.template_hash()
    if after == before:
        raise E2EFailure("logLevel changed but the pod template did not: the pods keep the old config")
    run.wait("the new ReplicaSet to be ready", lambda: run.rolled_to(after))


@step("renaming the namespace and back: the host check takes the old HTTPRoute for the stack's own")
def rename_namespace(run: Run) -> None:
    # The old route still exists while the new one is created; recognised by the instance label, it is no
    # conflict. The new namespace's database claim needs a volume of its own.
    renamed = f"{NAMESPACE}-renamed"
    run.storage(4)
    run.pulumi("config", "set", f"{PROJECT}:namespace", renamed)
    run.up()
    run.kubectl_json("get", "httproute", "wal-service", "-n", renamed)
    run.pulumi("config", "rm", f"{PROJECT}:namespace")
    run.up()
    run.wait(
        f"namespace {renamed} to be gone",
        lambda: run.cluster.kubectl("get", "namespace", renamed, check=False).returncode != 0,
    )


@step("rotating the database password (up --replace) rolls the service and the database pods")
def rotate_password(run: Run) -> None:
    # The Secret is updated in place; without a checksum of it in their templates the pods would keep
    # the old password until they happened to restart.
    password = run.urn("random:index/randomPassword:RandomPassword", "-database-password")
    before, server_before = run.template_hash(), run.statefulset()["metadata"]["generation"]
    run.up("--replace", password)
    after = run.template_hash()
    if after == before:
        raise E2EFailure("the password changed but the service's pod template did not")
    if run.statefulset()["metadata"]["generation"] == server_before:
        raise E2EFailure("the password changed but the database's pod template did not")
    run.wait("the new ReplicaSet to be ready", lambda: run.rolled_to(after))
    run.wait("the database to roll", lambda: rolled(run.statefulset()))


def rolled(statefulset: Any) -> bool:
    status = statefulset.get("status", {})
    return bool(
        status.get("observedGeneration") == statefulset["metadata"]["generation"]
        and status.get("updateRevision") == status.get("currentRevision")
        and (status.get("readyReplicas") or 0) >= 1
    )


@step("an explicit wal-service:kubeconfig path instead of $KUBECONFIG replaces nothing")
def kubeconfig_path(run: Run) -> None:
    uid = run.deployment()["metadata"]["uid"]
    run.pulumi("config", "set", f"{PROJECT}:kubeconfig", str(run.cluster.kubeconfig))
    run.up()
    run.preview("--expect-no-changes")
    run.pulumi("config", "rm", f"{PROJECT}:kubeconfig")
    run.up()
    if run.deployment()["metadata"]["uid"] != uid:
        raise E2EFailure("changing how the kubeconfig is found replaced the Deployment")
