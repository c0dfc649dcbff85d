"""Probe policies: every serving container has all three probes, and startup polls at once."""

from __future__ import annotations

import pytest

from policy.guardrails.probes import check_probes_required, check_startup_probe_no_initial_delay
from tests.policy.builders import DIGEST, container, deployment, findings, network_policies, probe, urn
from tests.policy.engine import Pack, Resource


@pytest.mark.parametrize("missing", ["startupProbe", "readinessProbe", "livenessProbe"])
def test_every_probe_is_required(missing: str) -> None:
    bad = container()
    del bad[missing]
    found = findings(check_probes_required, deployment(containers=[bad]))
    assert len(found) == 1 and missing in found[0]


def test_probes_pass_and_jobs_are_exempt() -> None:
    assert findings(check_probes_required, deployment()) == []
    job = "kubernetes:batch/v1:Job"
    props = {"spec": {"template": {"spec": {"containers": [{"name": "once", "image": DIGEST}]}}}}
    assert findings(check_probes_required, Resource(job, "j", urn(job, "j"), props)) == []


def test_startup_probe_initial_delay_is_advisory(pack: Pack) -> None:
    slow = container(startupProbe={**probe(), "initialDelaySeconds": 60})
    found = pack.run([deployment(containers=[slow]), *network_policies()])
    assert [(v.policy, v.level) for v in found] == [("startup-probe-no-initial-delay", "advisory")]
    assert findings(check_startup_probe_no_initial_delay, deployment()) == []


@pytest.mark.parametrize("kind", ["StatefulSet", "DaemonSet"])
def test_every_long_running_workload_needs_probes(kind: str) -> None:
    bare = container()
    del bare["livenessProbe"]
    resource = deployment(containers=[bare])
    other = Resource(f"kubernetes:apps/v1:{kind}", "x", urn(f"kubernetes:apps/v1:{kind}", "x"), resource.props)
    found = findings(check_probes_required, other)
    assert len(found) == 1 and "livenessProbe" in found[0], found


def test_the_violation_lists_every_missing_probe_and_what_each_is_for() -> None:
    bare = deployment(containers=[container(readinessProbe=None, livenessProbe=None, startupProbe=None)])
    assert findings(check_probes_required, bare) == [
        "container 'app' has no startupProbe, readinessProbe, livenessProbe: without them Kubernetes sends traffic "
        "to pods that cannot serve it and never restarts a hung one. Give every container a startup probe (fast "
        "polling, a failure budget for the slowest start), a readiness probe (traffic) and a liveness probe "
        "(restarts)."
    ]
