"""ClusterTarget: the provider every Kubernetes resource of a stack gets."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
