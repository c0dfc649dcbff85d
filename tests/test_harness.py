"""Guards for the harness itself: the mock run really executed the program.

Without these, every other test could pass while iterating over an empty list
(a program imported before `set_mocks`, or a run that failed before registering).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conftest import StackRun

EXPECTED_OUTPUTS = {"namespace", "url", "image", "kubeContext", "debugCommands", "recoveryCommands"}


def test_program_registers_resources(run: StackRun) -> None:
    types = [r["type"] for r in run.registrations]
    assert len(types) > 10, f"stack {run.stack}: only {len(types)} registrations: {types}"
    assert "kubernetes:apps/v1:Deployment" in types, f"stack {run.stack}: no Deployment among {types}"
    assert run.objects("Deployment"), f"stack {run.stack}: the Deployment has no kind/apiVersion inputs"


def test_stack_outputs_exist(run: StackRun) -> None:
    missing = EXPECTED_OUTPUTS - set(run.outputs)
    assert not missing, f"stack {run.stack}: outputs {sorted(missing)} missing from {sorted(run.outputs)}"
    for key in ("namespace", "url", "kubeContext"):
        assert run.outputs[key] is not None, f"stack {run.stack}: output {key} is None"
    assert run.outputs["namespace"] == f"wal-service-{run.stack}"


def test_kubernetes_resources_use_the_programs_provider(run: StackRun) -> None:
    """`pulumi:disable-default-providers` is only a backstop: every resource names the program's provider."""
    providers = {r["urn"] for r in run.registrations if r["type"] == "pulumi:providers:kubernetes"}
    assert providers, f"stack {run.stack}: the program registered no pulumi:providers:kubernetes"
    kubernetes = [r for r in run.registrations if r["custom"] and r["type"].startswith("kubernetes:")]
    assert kubernetes, f"stack {run.stack}: no Kubernetes resources registered"
    for r in kubernetes:
        # A provider reference is "<provider urn>::<provider id>".
        provider_urn = r["provider"].rsplit("::", 1)[0] if r["provider"] else ""
        assert provider_urn in providers, (
            f"{r['urn']}: provider {r['provider']!r} is not one the program registered ({sorted(providers)}); "
            "it would fall back to a default provider"
        )
        assert "::default" not in r["provider"], f"{r['urn']}: uses a default provider {r['provider']!r}"
