"""Changes to a deployed stack: each reaches the pods (or, for how the cluster is found, replaces nothing)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
from typing import Any

from e2e.harness import NAMESPACE, PROJECT, STACK, E2EFailure, Run
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
    run.wait_namespace_gone(renamed)


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


@step("API keys: apiToken is the generated key's, and a key rotated in two ups rolls the pods each time")
def rotate_api_key(run: Run) -> None:
    def keys_file() -> list[str]:
        secret = run.kubectl_json("get", "secret", "wal-service-api-keys", "-n", NAMESPACE)
        return base64.b64decode(secret["data"]["keys"]).decode().splitlines()

    def names() -> list[str]:
        return [line.split(":", 1)[0] for line in keys_file()]

    def up_rolls(what: str) -> None:
        before = run.template_hash()
        run.up()
        after = run.template_hash()
        if after == before:
            raise E2EFailure(f"{what} but the pod template did not change: the pods keep the old keys file")
        run.wait("the new ReplicaSet to be ready", lambda: run.rolled_to(after))

    def line(name: str, token: str) -> str:
        return f"{name}:writer:{hashlib.sha256(token.encode()).hexdigest()}"

    # Not echoed: the token stays out of the run's log.
    revealed = run.sh("pulumi", "stack", "output", "--json", "--show-secrets", "--stack", STACK, echo=False)
    token = str(json.loads(revealed.stdout).get("apiToken") or "")
    if not re.fullmatch(r"[A-Za-z0-9]{48}", token):
        raise E2EFailure(f"apiToken is not a generated 48-character token (length {len(token)})")
    shown = run.pulumi("stack", "output", "--json").stdout
    if json.loads(shown).get("apiToken") != "[secret]" or token in shown:
        raise E2EFailure("apiToken is shown without --show-secrets: it is not a secret output")
    if keys_file() != [line("generated", token)]:
        raise E2EFailure(f"the Secret's keys file is not the apiToken's key alone: {names()}")
    old, new = "O" * 40, "N" * 40
    run.pulumi("config", "set", "--secret", f"{PROJECT}:apiKeys", f"e2e-client:writer:{old}")
    up_rolls("a key was added")
    # Rotation, first up: the new key beside the old one; the client moves; second up: the old one goes.
    run.pulumi("config", "set", "--secret", f"{PROJECT}:apiKeys", f"e2e-client:writer:{old},e2e-client-2:writer:{new}")
    up_rolls("a second key was added to rotate the first")
    if keys_file() != [line("e2e-client", old), line("e2e-client-2", new), line("generated", token)]:
        raise E2EFailure(f"during the rotation both keys must be in the keys file: {names()}")
    run.pulumi("config", "set", "--secret", f"{PROJECT}:apiKeys", f"e2e-client-2:writer:{new}")
    up_rolls("the old key was removed")
    if names() != ["e2e-client-2", "generated"]:
        raise E2EFailure(f"after the rotation the keys file holds {names()}")
    state = run.sh("pulumi", "stack", "export", "--stack", STACK, echo=False).stdout
    if old in state or new in state or token in state:
        raise E2EFailure("a token is in the stack's state in clear")
    run.pulumi("config", "rm", f"{PROJECT}:apiKeys")
    up_rolls("the configured key was removed")


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
