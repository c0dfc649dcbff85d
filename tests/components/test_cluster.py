"""ClusterTarget: the provider every Kubernetes resource of a stack gets."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from conftest import StackRun


def test_config_maps_and_secrets_update_in_place(run: StackRun) -> None:
    """Their names are fixed: a replacement would delete first and take every dependent down with it."""
    providers = [r for r in run.registrations if r["type"] == "pulumi:providers:kubernetes"]
    assert providers, f"stack {run.stack}: no Kubernetes provider registered"
    for provider in providers:
        inputs = provider["inputs"]
        assert inputs.get("enableConfigMapMutable") == "true", f"{provider['urn']}: ConfigMaps would be replaced"
        assert inputs.get("enableSecretMutable") == "true", f"{provider['urn']}: Secrets would be replaced"


def test_existing_cluster_uses_kubectl_loading_rules_not_kubeconfig_contents(
    build_component: Callable[[Callable[[], object]], StackRun], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no kubeconfig path, $KUBECONFIG (a path list here) must reach client-go's loading rules in the
    provider, not be copied in as kubeconfig contents, which then fails to parse."""
    from components.cluster import ClusterTarget, ClusterTargetArgs

    monkeypatch.setenv("KUBECONFIG", "/home/me/.kube/config:/home/me/.kube/work")
    built = build_component(lambda: ClusterTarget("t", ClusterTargetArgs(kind=None, context="work")))
    (provider,) = [r for r in built.registrations if r["type"] == "pulumi:providers:kubernetes"]
    assert provider["inputs"].get("kubeconfig") == "", f"{provider['urn']}: {provider['inputs'].get('kubeconfig')!r}"
    assert provider["inputs"].get("context") == "work", f"{provider['urn']}: the context must be explicit"


def test_what_a_kind_node_holds_is_redone_when_the_cluster_is_recreated(run: StackRun) -> None:
    """A recreated cluster has new credentials and a bare node: the kubeconfig must be read again, the registry
    attached to kind's network again and the node's registry hosts written again, each re-run by the cluster's
    id (a new cluster gets a new one)."""
    commands = {r["name"]: r for r in run.registrations if r["type"] == "command:local:Command"}
    creates = [name for name in commands if name.endswith("-kind-create")]
    if run.stack == "prod":
        assert not creates, "prod targets an existing cluster"
        return
    (create,) = creates
    cluster_id = f"{create}-id"  # the mock's id for a created resource (tools/mockrun.py)
    for suffix in ("-kind-kubeconfig", "-registry-connect", "-registry-node-hosts"):
        (name,) = [n for n in commands if n.endswith(suffix)]
        assert cluster_id in (commands[name]["inputs"].get("triggers") or []), f"{name} is not re-run by a new cluster"
