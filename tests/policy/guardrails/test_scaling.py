"""Scaling and disruption: the HPA owns replicas, two or more pods get a PDB."""

from __future__ import annotations

import pytest

from policy.guardrails.scaling import check_disruption_budget, check_hpa_owns_replicas
from tests.policy.builders import HPA, deployment, hpa, pdb, stack_findings, urn
from tests.policy.deployed import live_object
from tests.policy.engine import Resource


def live(resource: Resource) -> Resource:
    return Resource(
        resource.resource_type, resource.name, resource.urn, live_object(resource.resource_type, resource.props)
    )


def test_hpa_target_must_not_set_replicas() -> None:
    assert stack_findings(check_hpa_owns_replicas, [deployment(replicas=None), hpa()]) == []
    found = stack_findings(check_hpa_owns_replicas, [deployment(replicas=3), hpa()])
    assert len(found) == 1 and found[0][1] == deployment().urn
    # Another Deployment, another namespace, or no target at all: not this HPA's business.
    assert stack_findings(check_hpa_owns_replicas, [deployment(replicas=3), hpa("other")]) == []
    assert stack_findings(check_hpa_owns_replicas, [deployment(replicas=3), hpa(namespace="x")]) == []
    bare = Resource(HPA, "h", urn(HPA, "h"), {})
    assert stack_findings(check_hpa_owns_replicas, [deployment(replicas=3), bare]) == []


def test_hpa_owns_replicas_reads_who_applied_them_on_live_objects() -> None:
    # Deployed, the API server fills in spec.replicas (1), and later the HPA's count: neither is the program's.
    unset = live(deployment(replicas=None))
    assert unset.props["spec"]["replicas"] == 1
    assert stack_findings(check_hpa_owns_replicas, [unset, live(hpa())]) == []
    scaled = live(deployment(replicas=None))
    scaled.props["spec"]["replicas"] = 3
    scaled.props["metadata"]["managedFields"].append(
        {"manager": "kube-controller-manager", "operation": "Update", "subresource": "scale",
         "fieldsV1": {"f:spec": {"f:replicas": {}}}}
    )  # fmt: skip
    assert stack_findings(check_hpa_owns_replicas, [scaled, live(hpa())]) == []
    # The program applied spec.replicas: its server-side apply entry owns the field.
    found = stack_findings(check_hpa_owns_replicas, [live(deployment(replicas=3)), live(hpa())])
    assert [urn for _, urn in found] == [deployment().urn]


@pytest.mark.parametrize(
    ("resources", "violations"),
    [
        ([deployment(replicas=2)], 1),
        ([deployment(replicas=2), pdb()], 0),
        ([deployment(replicas=2), pdb({"app": "other"})], 1),
        ([deployment(replicas=2), pdb(namespace="elsewhere")], 1),
        ([deployment(replicas=None), hpa(minimum=2)], 1),
        ([deployment(replicas=None), hpa(minimum=2), pdb()], 0),
        ([deployment(replicas=None), hpa(minimum=None)], 0),
        ([deployment(replicas=None)], 0),
        ([deployment(replicas=1)], 0),
    ],
    ids=[
        "two-no-pdb",
        "two-pdb",
        "pdb-other-labels",
        "pdb-other-namespace",
        "hpa-min-2",
        "hpa-min-2-pdb",
        "hpa-default-min",
        "replicas-unset",
        "one",
    ],
)
def test_disruption_budget(resources: list[Resource], violations: int) -> None:
    assert len(stack_findings(check_disruption_budget, resources)) == violations
