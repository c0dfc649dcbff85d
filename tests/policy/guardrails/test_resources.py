"""Every container requests and limits CPU, memory and ephemeral storage."""

from __future__ import annotations

import pytest

from policy.guardrails.resources import check_resources_required
from tests.policy.builders import DIGEST, container, deployment, findings


@pytest.mark.parametrize(
    "field",
    [
        "requests.cpu",
        "requests.memory",
        "requests.ephemeral-storage",
        "limits.cpu",
        "limits.memory",
        "limits.ephemeral-storage",
    ],
)
def test_requests_and_limits_are_required(field: str) -> None:
    section, name = field.split(".")
    bad = container()
    del bad["resources"][section][name]
    found = findings(check_resources_required, deployment(containers=[bad]))
    assert len(found) == 1 and field in found[0]


def test_resources_missing_entirely_and_on_init_containers() -> None:
    no_resources = container()
    del no_resources["resources"]
    resource = deployment(containers=[no_resources], initContainers=[{"name": "init", "image": DIGEST}])
    found = findings(check_resources_required, resource)
    assert len(found) == 2 and any("initContainer 'init'" in f for f in found)
    assert findings(check_resources_required, deployment()) == []
