"""NamespaceQuota: the quota holds every pod the stack runs at its worst moment; the LimitRange admits all of them.

The arithmetic is checked twice: unit cases on the formula (init containers, surge, autoscaling, database
present or external), and every rendered stack re-derived from its own manifests, independently of the
program's code, so a container whose resources change without the quota following fails here.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pytest

from components.environment import quota_hard_for, stack_pods
from components.quota import cpu_quantity, memory_quantity, pod_footprint, quota_hard
from components.settings import amount, stack_settings
from tests.dependencies import ancestors

if TYPE_CHECKING:
    from conftest import MockRuns, StackRun


def req(cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str) -> dict[str, dict[str, str]]:
    return {
        "requests": {"cpu": cpu_request, "memory": memory_request},
        "limits": {"cpu": cpu_limit, "memory": memory_limit},
    }


def test_init_container_larger_than_the_app_containers_sets_the_pod_footprint() -> None:
    pod = pod_footprint([req("100m", "64Mi", "200m", "128Mi")], [req("50m", "1Gi", "1", "2Gi")])
    assert pod["limits.cpu"] == Decimal(1), "the init container's 1 CPU exceeds the app's 200m: it sets the pod's limit"
    assert pod["limits.memory"] == 2 * 2**30
    assert pod["requests.cpu"] == Decimal("0.1"), "the app's 100m request exceeds the init container's 50m"


def test_init_containers_run_one_at_a_time_so_they_do_not_add_up() -> None:
    inits = [req("300m", "64Mi", "300m", "64Mi"), req("400m", "64Mi", "400m", "64Mi")]
    pod = pod_footprint([req("100m", "64Mi", "100m", "64Mi")], inits)
    assert pod["limits.cpu"] == Decimal("0.4"), "the largest init container, not the sum of them (700m)"


def test_app_containers_add_up() -> None:
    pod = pod_footprint([req("100m", "64Mi", "200m", "128Mi"), req("100m", "64Mi", "300m", "128Mi")])
    assert pod["limits.cpu"] == Decimal("0.5")
    assert pod["limits.memory"] == 256 * 2**20


@pytest.mark.parametrize(
    ("stack", "sets", "service_pods", "database"),
    [
        # The larger of replicas and maxReplicas (default 4), autoscaling on or off: turning it off rolls the
        # pods while the Deployment still runs what the autoscaler chose, up to maxReplicas.
        ("dev", {}, 4 + 1, True),
        ("dev", {"replicas": "3"}, 4 + 1, True),
        ("dev", {"replicas": "7"}, 7 + 1, True),
        # Turning autoscaling on rolls the pods while replicas still run.
        ("dev", {"autoscaling": "true", "minReplicas": "2", "maxReplicas": "6", "replicas": "9"}, 9 + 1, True),
        ("dev", {"autoscaling": "true", "minReplicas": "2", "maxReplicas": "6", "replicas": "1"}, 6 + 1, True),
        ("staging", {}, 4 + 1, True),
        ("prod", {}, 10 + 1, False),
    ],
)
def test_worst_moment_counts_surge_and_the_database(
    stack: str, sets: dict[str, str], service_pods: int, database: bool
) -> None:
    pods = stack_pods(stack_settings(stack, {f"wal-service:{k}": v for k, v in sets.items()}))
    assert pods.service_pods == service_pods, f"{stack} {sets}: service pods at the worst moment"
    assert ("database" in pods.others) == database, f"{stack}: in-cluster database counted iff present"
    assert pods.pods == service_pods + database


def test_headroom_rounds_up_in_whole_millicores_mebibytes_and_pods() -> None:
    assert cpu_quantity(Decimal("0.0001")) == "1m"
    assert cpu_quantity(Decimal(3)) == "3"
    assert memory_quantity(Decimal(2**20 + 1)) == "2Mi"
    pods = stack_pods(stack_settings("dev"))
    hard = quota_hard(pods, 10)
    assert hard["pods"] == str(math.ceil(6 * 1.1)) == "7"


def test_dev_quota_is_the_need_plus_25_percent() -> None:
    # dev: 5 service pods (maxReplicas 4, the default, + surge) at 100m/256Mi requests, 500m/512Mi limits, and the
    # database pod (100m/256Mi, 1/512Mi; its init container's 50m/128Mi, 500m/256Mi fits within): x 1.25.
    assert quota_hard_for(stack_settings("dev")) == {
        "pods": "8",
        "requests.cpu": "750m",
        "requests.memory": "1920Mi",
        "limits.cpu": "4375m",
        "limits.memory": "3840Mi",
    }


def test_an_explicit_budget_caps_requests_and_limits_alike() -> None:
    hard = quota_hard_for(stack_settings("prod"))
    assert hard["limits.cpu"] == hard["requests.cpu"] == "4"
    assert hard["limits.memory"] == hard["requests.memory"] == "8Gi"


def test_an_exactly_fitting_budget_is_accepted() -> None:
    # prod needs (10 + 1) x 200m = 2200m and 11 x 400Mi = 4400Mi; the database is external.
    hard = quota_hard_for(
        stack_settings("prod", {"wal-service:quotaCpu": "2200m", "wal-service:quotaMemory": "4400Mi"})
    )
    assert hard["limits.cpu"] == "2200m"


# --------------------------------------------------------------------------------------- rendered stacks
def _resources(container: dict[str, Any]) -> dict[str, dict[str, str]]:
    resources: dict[str, dict[str, str]] = container["resources"]
    return resources


def _pod_need(template_spec: dict[str, Any]) -> dict[str, Decimal]:
    """Effective limits and requests of a rendered pod template, computed here from the manifest alone."""
    need = {}
    for kind in ("requests", "limits"):
        for res in ("cpu", "memory"):
            app = sum((amount(_resources(c)[kind][res]) for c in template_spec["containers"]), Decimal(0))
            init = max((amount(_resources(c)[kind][res]) for c in template_spec.get("initContainers") or []), default=0)
            need[f"{kind}.{res}"] = max(app, Decimal(init))
    return need


def test_rendered_quota_holds_every_rendered_pod_at_its_worst(run: StackRun, config: dict[str, str]) -> None:
    deployment = run.one("Deployment", "ServiceWorkload")
    hpa = run.maybe("HorizontalPodAutoscaler", "ServiceWorkload")
    # Either mode's count may still run while a switch between them rolls the pods.
    replicas = max(int(config["maxReplicas"]), int(config["replicas"]))
    if hpa:
        assert hpa.spec["maxReplicas"] == int(config["maxReplicas"]), f"{hpa}: maxReplicas differs from the config"
    else:
        assert deployment.spec["replicas"] == int(config["replicas"]), f"{deployment}: replicas differ from the config"
    surge = deployment.spec["strategy"]["rollingUpdate"]["maxSurge"]
    service = _pod_need(deployment.spec["template"]["spec"])
    pods = replicas + surge
    total = {key: value * pods for key, value in service.items()}
    for statefulset in run.objects("StatefulSet"):
        for key, value in _pod_need(statefulset.spec["template"]["spec"]).items():
            total[key] += value * statefulset.spec["replicas"]
        pods += statefulset.spec["replicas"]
    hard = run.one("ResourceQuota").spec["hard"]
    assert int(hard["pods"]) >= pods, f"stack {run.stack}: quota pods {hard['pods']} < {pods} pods at the worst moment"
    for key, value in total.items():
        assert amount(hard[key]) >= value, f"stack {run.stack}: quota {key} {hard[key]} < {value} needed"


def test_limit_range_defaults_are_the_service_container_and_admit_every_container(run: StackRun) -> None:
    (item,) = run.one("LimitRange").spec["limits"]
    assert item["type"] == "Container"
    (service,) = run.one("Deployment", "ServiceWorkload").spec["template"]["spec"]["containers"]
    assert item["default"] == service["resources"]["limits"], f"stack {run.stack}: default limit is not the service's"
    assert item["defaultRequest"] == service["resources"]["requests"], f"stack {run.stack}: default request"
    for workload in [*run.objects("Deployment"), *run.objects("StatefulSet")]:
        spec = workload.spec["template"]["spec"]
        for container in [*spec["containers"], *(spec.get("initContainers") or [])]:
            for res, ceiling in item["max"].items():
                limit = container["resources"]["limits"][res]
                assert amount(limit) <= amount(ceiling), (
                    f"stack {run.stack}: {workload} container {container['name']} limit {res} {limit} exceeds the "
                    f"LimitRange max {ceiling}: its pods would be refused"
                )


def test_pods_are_created_after_the_quota_and_limit_range(run: StackRun) -> None:
    guards = {run.one(kind).registration["urn"] for kind in ("ResourceQuota", "LimitRange")}
    for workload in [*run.objects("Deployment"), *run.objects("StatefulSet")]:
        missing = guards - ancestors(run.registrations, workload.registration["urn"])
        assert not missing, f"stack {run.stack}: {workload} does not wait for {sorted(missing)}"


def test_quota_can_be_left_to_the_cluster(mockruns: MockRuns) -> None:
    result = mockruns.get("prod", ["wal-service:resourceQuota=false"])
    assert result.returncode == 0, result.error
    assert not result.objects("ResourceQuota") and not result.objects("LimitRange")
