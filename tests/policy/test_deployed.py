"""Stack policies on the outputs the real engine kept for a deployed, autoscaled dev stack (`make e2e`).

`fixtures/deployed-outputs.json` was recorded by `E2E_RECORD_OUTPUTS=... make e2e` after autoscaling was turned
on: the real kube-apiserver filled in what the program left unset, and the engine handed those outputs to the
stack policies. The tests check the pack against them and `deployed.live_object` (what the other policy tests
use for deployed stacks) against them.
"""

from __future__ import annotations

from typing import Any

from pulumi_policy import StackValidationPolicy

from policy.guardrails import POLICIES
from policy.guardrails.scaling import check_hpa_owns_replicas
from tests.policy.builders import stack_findings
from tests.policy.deployed import SERVER_METADATA, live_object, recorded
from tests.policy.engine import Pack, Resource, mandatory

STACK_POLICIES = {p.name for p in POLICIES if isinstance(p, StackValidationPolicy)}
DEPLOYMENT = "kubernetes:apps/v1:Deployment"


def outputs() -> list[Resource]:
    return [Resource(r["type"], r["name"], r["urn"], r["outputs"]) for r in recorded()]


def the_deployment(resources: list[Resource]) -> Resource:
    [deployment] = [r for r in resources if r.resource_type == DEPLOYMENT]
    return deployment


def test_the_record_holds_what_made_hpa_owns_replicas_fire() -> None:
    """The premise: the program leaves spec.replicas unset, the live object has it anyway."""
    [deployment] = [r for r in recorded() if r["type"] == DEPLOYMENT]
    assert "replicas" not in deployment["inputs"]["spec"], "autoscaling was on: the program sets no replicas"
    assert deployment["outputs"]["spec"]["replicas"] >= 1, "the API server defaults it"
    assert any(r["type"] == "kubernetes:autoscaling/v2:HorizontalPodAutoscaler" for r in recorded())


def test_no_stack_policy_fires_on_the_deployed_stack() -> None:
    found = [v for v in mandatory(Pack().run(outputs())) if v.policy in STACK_POLICIES]
    assert not found, "\n".join(map(str, found))


def test_hpa_owns_replicas_still_fires_when_the_program_applied_replicas() -> None:
    resources = outputs()
    deployment = the_deployment(resources)
    entries: list[dict[str, Any]] = deployment.props["metadata"]["managedFields"]
    [applied] = [e for e in entries if e["operation"] == "Apply"]
    applied["fieldsV1"]["f:spec"]["f:replicas"] = {}
    found = stack_findings(check_hpa_owns_replicas, resources)
    assert [urn for _, urn in found] == [deployment.urn]


def test_live_object_has_the_shape_of_the_recorded_outputs() -> None:
    """The simulation adds what the server does: server metadata, defaulted replicas, and one Apply entry listing
    the top-level fields the program set (the real one also keys list items; no policy reads those)."""
    for r in recorded():
        simulated = live_object(r["type"], r["inputs"])
        real = r["outputs"]
        for key in SERVER_METADATA:
            assert key in real["metadata"] and key in simulated["metadata"], (r["name"], key)
        assert simulated["spec"].get("replicas") == real["spec"].get("replicas"), r["name"]
        [real_apply] = [e for e in real["metadata"]["managedFields"] if e["operation"] == "Apply"]
        [simulated_apply] = simulated["metadata"]["managedFields"]
        assert set(simulated_apply["fieldsV1"]["f:spec"]) == set(real_apply["fieldsV1"]["f:spec"]), r["name"]
