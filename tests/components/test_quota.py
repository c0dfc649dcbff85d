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

from components.args_from_settings import quota_hard_for, stack_pods
from components.quota import cpu_quantity, memory_quantity, pod_footprint, quota_hard
from components.stack_checks import stack_settings
from components.validators import amount
from tests.config_cases import Bad, assert_refused_before_any_resource, prefetch
from tests.dependencies import ancestors

if TYPE_CHECKING:
    from conftest import MockRuns, StackRun


def req(
    cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str, disk: tuple[str, str] = ("1Mi", "1Mi")
) -> dict[str, dict[str, str]]:
    """A container's resources; `disk` is its ephemeral-storage request and limit."""
    return {
        "requests": {"cpu": cpu_request, "memory": memory_request, "ephemeral-storage": disk[0]},
        "limits": {"cpu": cpu_limit, "memory": memory_limit, "ephemeral-storage": disk[1]},
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


def test_ephemeral_storage_counts_like_memory() -> None:
    app = [req("100m", "64Mi", "200m", "128Mi", ("100Mi", "200Mi")), req("100m", "64Mi", "200m", "128Mi", ("1", "1"))]
    pod = pod_footprint(app, [req("1m", "1Mi", "1m", "1Mi", ("10Mi", "1Gi"))])
    assert pod["requests.ephemeral-storage"] == 100 * 2**20 + 1, "app containers' requests add up"
    assert pod["limits.ephemeral-storage"] == 2**30, "the init container's 1Gi exceeds the app's sum"


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
    # dev: 5 service pods (maxReplicas 4, the default, + surge) at 100m/256Mi/128Mi requests, 500m/512Mi/256Mi
    # limits (cpu/memory/ephemeral-storage), and the database pod (100m/256Mi/128Mi, 1/512Mi/256Mi; its init
    # container's 50m/128Mi/16Mi, 500m/256Mi/64Mi fits within): x 1.25.
    assert quota_hard_for(stack_settings("dev")) == {
        "pods": "8",
        "requests.cpu": "750m",
        "requests.memory": "1920Mi",
        "requests.ephemeral-storage": "960Mi",
        "limits.cpu": "4375m",
        "limits.memory": "3840Mi",
        "limits.ephemeral-storage": "1920Mi",
    }


def test_an_explicit_budget_caps_requests_and_limits_alike() -> None:
    hard = quota_hard_for(stack_settings("prod"))
    assert hard["limits.cpu"] == hard["requests.cpu"] == "4"
    assert hard["limits.memory"] == hard["requests.memory"] == "8Gi"
    # No budget key for ephemeral storage: prod's 11 service pods x 256Mi (128Mi requested), plus 25%.
    assert (hard["limits.ephemeral-storage"], hard["requests.ephemeral-storage"]) == ("3520Mi", "1760Mi")


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


RESOURCES = ("cpu", "memory", "ephemeral-storage")
# What a container's logs may take on the node at the kubelet's defaults (containerLogMaxSize 10Mi x
# containerLogMaxFiles 5); they count against the container's ephemeral storage.
LOG_BUDGET = 50 * 2**20


def _pod_need(template_spec: dict[str, Any]) -> dict[str, Decimal]:
    """Effective limits and requests of a rendered pod template, computed here from the manifest alone."""
    need = {}
    for kind in ("requests", "limits"):
        for res in RESOURCES:
            # A container that sets none counts 0 here; the tests below refuse such containers in their own words.
            def of(container: dict[str, Any], kind: str = kind, res: str = res) -> Decimal:
                return amount(_resources(container)[kind].get(res, "0"))

            app = sum((of(c) for c in template_spec["containers"]), Decimal(0))
            init = max((of(c) for c in template_spec.get("initContainers") or []), default=Decimal(0))
            need[f"{kind}.{res}"] = max(app, init)
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
        assert key in hard, f"stack {run.stack}: the quota does not bound {key} (it has {sorted(hard)})"
        assert amount(hard[key]) >= value, f"stack {run.stack}: quota {key} {hard[key]} < {value} needed"


def _workload_containers(run: StackRun) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{workload} container {c['name']}", c)
        for workload in [*run.objects("Deployment"), *run.objects("StatefulSet")]
        for c in [
            *workload.spec["template"]["spec"]["containers"],
            *(workload.spec["template"]["spec"].get("initContainers") or []),
        ]
    ]


def test_every_rendered_container_requests_and_limits_ephemeral_storage(run: StackRun) -> None:
    found = _workload_containers(run)
    assert found, f"stack {run.stack}: no containers rendered"
    for where, container in found:
        resources = container.get("resources") or {}
        request = (resources.get("requests") or {}).get("ephemeral-storage")
        limit = (resources.get("limits") or {}).get("ephemeral-storage")
        assert request and limit, f"stack {run.stack}: {where} leaves ephemeral-storage unbounded: {resources}"
        assert amount(request) <= amount(limit), f"stack {run.stack}: {where} requests {request} > limit {limit}"


def test_every_rendered_pod_has_disk_for_its_empty_dirs_and_logs(run: StackRun) -> None:
    """The kubelet evicts a pod whose emptyDirs and containers' logs and writable layers together exceed the sum of
    its containers' limits: that sum must hold every emptyDir full and every container's rotated logs."""
    for workload in [*run.objects("Deployment"), *run.objects("StatefulSet")]:
        spec = workload.spec["template"]["spec"]
        empty_dirs = [v for v in spec.get("volumes") or [] if "emptyDir" in v]
        unsized = [v["name"] for v in empty_dirs if not v["emptyDir"].get("sizeLimit")]
        assert not unsized, f"stack {run.stack}: {workload} emptyDirs {unsized} have no sizeLimit"
        need = sum((amount(v["emptyDir"]["sizeLimit"]) for v in empty_dirs), Decimal(0))
        need += LOG_BUDGET * len(spec["containers"])
        limit = _pod_need(spec)["limits.ephemeral-storage"]
        assert limit >= need, (
            f"stack {run.stack}: {workload} may use {need / 2**20:.0f}Mi of node disk (emptyDirs full, logs at the "
            f"kubelet's rotation size) but its containers' ephemeral-storage limits add up to {limit / 2**20:.0f}Mi"
        )


def test_limit_range_defaults_are_the_service_container_and_admit_every_container(run: StackRun) -> None:
    (item,) = run.one("LimitRange").spec["limits"]
    assert item["type"] == "Container"
    # A pod that sets none of a resource the quota bounds is refused, unless the LimitRange fills it in.
    for key in run.one("ResourceQuota").spec["hard"]:
        kind, _, res = key.partition(".")
        defaults = {"requests": item["defaultRequest"], "limits": item["default"]}.get(kind)
        assert defaults is None or res in defaults, (
            f"stack {run.stack}: the quota bounds {key}, the LimitRange sets none"
        )
        assert defaults is None or res in item["max"], f"stack {run.stack}: no LimitRange max for {res}"
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


# A namespace budget the stack cannot fit in at its worst moment (every pod at its limits) is refused.
TOO_SMALL = {
    "quota-cpu-autoscaling": Bad(
        "staging", ("wal-service:quotaCpu=2",), "quotaCpu", "'2'", "maxReplicas 4 + rollout surge 1) x cpuLimit 500m"
    ),
    "quota-cpu-fixed-replicas": Bad(
        "dev",
        ("wal-service:replicas=5", "wal-service:quotaCpu=2"),
        "quotaCpu",
        "'2'",
        "6 service pods (replicas 5 + rollout surge 1) x cpuLimit 500m + database pod 1 (the larger of its containers' "
        "sum and its init container); set quotaCpu to at least 4, unset it",
    ),
    "quota-memory-external-database": Bad(
        "prod", ("wal-service:quotaMemory=4Gi",), "quotaMemory", "'4Gi'", "limits.memory 4400Mi = 11 service pods"
    ),
    "quota-memory-counts-the-database": Bad(
        "dev", ("wal-service:quotaMemory=1Gi",), "quotaMemory", "'1Gi'", "+ database pod 512Mi"
    ),
}


@pytest.mark.parametrize("case", TOO_SMALL.values(), ids=TOO_SMALL.keys())
def test_a_budget_below_the_need_is_refused_before_any_resource(mockruns: MockRuns, case: Bad) -> None:
    prefetch(mockruns, TOO_SMALL)
    assert_refused_before_any_resource(mockruns, case)
