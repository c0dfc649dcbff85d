"""ImagePullSecret: how the pods of a stack on an external registry are let in."""

from __future__ import annotations

import base64
import json

from components.pull_secret import docker_config_json
from tests.conftest import MockRuns


def test_the_credentials_are_in_the_format_the_kubelet_reads() -> None:
    """~/.docker/config.json's `auths`: the kubelet uses `auth` (base64 of user:password) for the server named."""
    config = json.loads(docker_config_json("registry.example.com:5000", "ci", "p@ss:word"))
    entry = config["auths"]["registry.example.com:5000"]
    assert base64.b64decode(entry["auth"]).decode() == "ci:p@ss:word"
    assert (entry["username"], entry["password"]) == ("ci", "p@ss:word")


def test_a_stack_with_a_registry_password_pulls_with_it(mockruns: MockRuns) -> None:
    run = mockruns.get("prod", ["wal-service:registryUsername=ci", "wal-service:registryPassword={secret: 'tok'}"])
    assert run.error is None, run.error
    (secret,) = [o for o in run.objects("Secret") if o.metadata["name"] == "registry-credentials"]
    assert secret.body["type"] == "kubernetes.io/dockerconfigjson"
    assert secret.metadata["namespace"] == run.one("Deployment").metadata["namespace"]
    pod = run.one("Deployment").spec["template"]["spec"]
    assert pod.get("imagePullSecrets") == [{"name": "registry-credentials"}]


def test_without_a_registry_user_nothing_is_stored_and_pods_pull_anonymously(mockruns: MockRuns) -> None:
    run = mockruns.get("prod")
    assert run.error is None, run.error
    assert not [o for o in run.objects("Secret") if o.body.get("type") == "kubernetes.io/dockerconfigjson"]
    assert "imagePullSecrets" not in run.one("Deployment").spec["template"]["spec"]
