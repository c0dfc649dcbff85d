"""ops reach a stack's cluster through its own kubeconfig file and context, never the ambient ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from components import stack_config
from components.stack_checks import stack_settings
from ops.kube import api_client


def kubeconfig(server: str, context: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": server}}],
            "users": [{"name": context, "user": {"token": "t"}}],
            "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
            "current-context": context,
        }
    )


def test_a_kind_stack_is_reached_through_the_file_kind_wrote(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kind writes the stack's kubeconfig to its own file (--kubeconfig), not ~/.kube/config: ops must read it."""
    monkeypatch.setattr(stack_config, "KIND_KUBECONFIG_DIR", tmp_path)
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "ambient.yaml"))
    (tmp_path / "ambient.yaml").write_text(kubeconfig("https://ambient.invalid:6443", "kind-wal-service-cluster"))
    settings = stack_settings("dev")
    Path(settings.kubeconfig_file).write_text(kubeconfig("https://127.0.0.1:41234", "kind-wal-service-cluster"))
    client = api_client(settings, "kind-wal-service-cluster")
    assert client.configuration.host == "https://127.0.0.1:41234"
    assert (
        settings.kubectl
        == f"kubectl --kubeconfig {tmp_path}/kind-wal-service-cluster.yaml --context kind-wal-service-cluster"
    )


def test_an_existing_cluster_stack_keeps_kubectls_rules_and_its_context() -> None:
    settings = stack_settings("prod")
    assert settings.kubeconfig_file == ""
    assert settings.kubectl == f"kubectl --context {settings.kube_context}"
