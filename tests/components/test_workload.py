"""ServiceWorkload: the operational facts of the service's objects, for every stack, and built from its args."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from components.app_config import AppConfig, Limits, Shutdown
from components.pod_spec import Probes, Resources, SecretEnv
from components.routes import GatewayRoute, IngressRoute, Routing
from components.workload import Scaling, ServiceWorkload, ServiceWorkloadArgs
from tests.components.workload_objects import (
    WORKLOAD,
    config_data,
    container,
    deployment,
    matches,
    pod_labels,
    pod_spec,
)

if TYPE_CHECKING:
    from conftest import MockRuns, StackRun


def test_workload_objects_live_in_the_stack_namespace(run: StackRun) -> None:
    objects = run.objects(component=WORKLOAD)
    assert len(objects) >= 8, f"stack {run.stack}: only {len(objects)} ServiceWorkload objects"
    for obj in objects:
        assert obj.metadata.get("namespace") == f"wal-service-{run.stack}", f"{obj}: namespace {obj.metadata}"


def test_service_account_mounts_no_token(run: StackRun) -> None:
    account = run.one("ServiceAccount", WORKLOAD)
    assert account.body.get("automountServiceAccountToken") is False, f"{account}: automounts a token"
    spec = pod_spec(run)
    assert spec.get("serviceAccountName") == account.metadata["name"], f"{deployment(run)}: other service account"
    assert spec.get("automountServiceAccountToken") is False, f"{deployment(run)}: pod automounts a token"
    # Service links would inject *_SERVICE_HOST/PORT variables for every Service in the namespace.
    assert spec.get("enableServiceLinks") is False, f"{deployment(run)}: service links enabled"


# --- Deployment ------------------------------------------------------------------


def test_config_checksum_annotation(run: StackRun) -> None:
    annotations = deployment(run).spec["template"]["metadata"].get("annotations") or {}
    checksum = annotations.get("checksum/config")
    assert checksum and len(checksum) == 64, f"{deployment(run)}: no checksum/config annotation: {annotations}"


@pytest.mark.parametrize(
    ("setting", "key", "value"),
    [("logLevel", "LOG_LEVEL", "error"), ("databaseSslMode", "DATABASE_SSLMODE", "disable")],
    ids=["own-entry", "database-entry"],
)
def test_config_change_rolls_the_pods(mockruns: MockRuns, setting: str, key: str, value: str) -> None:
    """A changed ConfigMap does not restart pods by itself: the checksum in the pod template must change,
    for the program's own entries and for those other components add (DATABASE_*) alike."""
    before = deployment(mockruns.get("dev")).spec["template"]["metadata"]["annotations"]["checksum/config"]
    changed = mockruns.get("dev", [f"wal-service:{setting}={value}"])
    assert changed.returncode == 0, f"stack dev with {setting}={value} failed: {changed.error}"
    assert config_data(changed)[key] == value, f"{changed.one('ConfigMap', WORKLOAD)}: {key}"
    after = deployment(changed).spec["template"]["metadata"]["annotations"]["checksum/config"]
    assert after != before, f"{deployment(changed)}: checksum/config did not change with {key}"


def test_rollout_strategy(run: StackRun, config: dict[str, str]) -> None:
    where, spec = deployment(run), deployment(run).spec
    assert spec.get("strategy", {}).get("type") == "RollingUpdate", f"{where}: strategy {spec.get('strategy')}"
    assert spec["strategy"].get("rollingUpdate", {}).get("maxUnavailable") == 0, f"{where}: maxUnavailable not 0"
    for key in ("minReadySeconds", "progressDeadlineSeconds", "revisionHistoryLimit"):
        assert isinstance(spec.get(key), int) and spec[key] > 0, f"{where}: {key} not set"
    # A rollout whose new pods use their whole startup budget, one surge pod after another, is not a failure.
    budget = int(config["startupBudgetSeconds"])
    assert spec["progressDeadlineSeconds"] >= 2 * (budget + spec["minReadySeconds"]), (
        f"{where}: progressDeadlineSeconds {spec['progressDeadlineSeconds']} declares a slow but healthy rollout failed"
    )
    # The pods run a digest: the node's copy is that image, and Always would make every restart need the registry.
    assert container(run)["image"].partition("@")[2].startswith("sha256:"), f"{where}: image not pinned"
    assert container(run)["imagePullPolicy"] == "IfNotPresent", f"{where}: {container(run)['imagePullPolicy']}"
    assert matches(spec["selector"]["matchLabels"], pod_labels(run)), f"{where}: selector misses its pods"


def test_replicas_left_to_the_hpa(run: StackRun, config: dict[str, str]) -> None:
    where, hpa = deployment(run), run.maybe("HorizontalPodAutoscaler", WORKLOAD)
    if config["autoscaling"] == "true":
        assert run.stack != "dev"
        assert hpa is not None, f"stack {run.stack}: autoscaling but no HorizontalPodAutoscaler"
        assert "replicas" not in where.spec, f"{where}: spec.replicas set although an HPA owns it"
        assert hpa.body["apiVersion"] == "autoscaling/v2", f"{hpa}: apiVersion {hpa.body['apiVersion']}"
        target = hpa.spec["scaleTargetRef"]
        assert target == {"apiVersion": "apps/v1", "kind": "Deployment", "name": where.metadata["name"]}, (
            f"{hpa}: scaleTargetRef {target} is not {where}"
        )
        assert hpa.spec["minReplicas"] == int(config["minReplicas"]), f"{hpa}: minReplicas"
        assert hpa.spec["maxReplicas"] == int(config["maxReplicas"]), f"{hpa}: maxReplicas"
    else:
        assert run.stack == "dev"
        assert hpa is None, f"{hpa}: exists although autoscaling is off"
        assert where.spec.get("replicas") == int(config["replicas"]), f"{where}: replicas {where.spec.get('replicas')}"


def test_pdb_whenever_two_pods(run: StackRun, expected_min_pods: int) -> None:
    pdb = run.maybe("PodDisruptionBudget", WORKLOAD)
    if expected_min_pods >= 2:
        assert run.stack in ("staging", "prod")
        assert pdb is not None, f"stack {run.stack}: {expected_min_pods} pods but no PodDisruptionBudget"
        assert pdb.spec.get("maxUnavailable") == 1, f"{pdb}: maxUnavailable {pdb.spec.get('maxUnavailable')}"
        assert pdb.spec.get("unhealthyPodEvictionPolicy") == "AlwaysAllow", f"{pdb}: eviction policy"
        assert "minAvailable" not in pdb.spec, f"{pdb}: minAvailable would block drains"
        assert matches(pdb.spec["selector"]["matchLabels"], pod_labels(run)), f"{pdb}: selector misses the pods"
    else:
        assert run.stack == "dev"
        assert pdb is None, f"{pdb}: a PDB over one pod blocks every node drain"


# --- Service ------------------------------------------------------------------------


def test_service(run: StackRun) -> None:
    service = run.one("Service", WORKLOAD)
    assert service.spec.get("type") == "ClusterIP", f"{service}: type {service.spec.get('type')}"
    ports = service.spec.get("ports", [])
    assert [p.get("name") for p in ports] == ["http"], f"{service}: ports {ports}"
    assert ports[0].get("targetPort") in ("http", 8080), f"{service}: targetPort {ports[0].get('targetPort')}"
    assert matches(service.spec["selector"], pod_labels(run)), f"{service}: selector misses the pods"


# --- built from its args alone ------------------------------------------------------------

UNIT_ARGS = ServiceWorkloadArgs(
    instance="wal-service-unit",
    namespace="unit",
    image="registry.example.com/wal-service@sha256:" + "a" * 64,
    version="v1",
    config=AppConfig(app_env="test", log_level="info", feature_flags={"FLAG_X": "on"}),
    limits=Limits(
        max_body_bytes=4096,
        max_json_depth=8,
        max_header_bytes=2048,
        max_inflight_bytes=8192,
        max_connections=3,
        header_read_timeout_seconds=6,
        body_read_timeout_seconds=7,
    ),
    scaling=Scaling(replicas=1, autoscaling=False, min_replicas=2, max_replicas=4, target_cpu_utilization=70),
    resources=Resources(
        cpu_request="10m",
        cpu_limit="20m",
        memory_request="16Mi",
        memory_limit="32Mi",
        ephemeral_storage_request="48Mi",
        ephemeral_storage_limit="96Mi",
    ),
    probes=Probes(health_path="/healthz", ready_path="/readyz", startup_budget_seconds=11),
    shutdown=Shutdown(
        pre_stop_seconds=3, drain_seconds=4, shutdown_timeout_seconds=5, termination_grace_period_seconds=13
    ),
    routing=Routing(host="unit.example.com", via=GatewayRoute(gateway_namespace="edge", gateway_name="shared")),
)


def built(build_component: Callable[..., StackRun], **changes: Any) -> StackRun:
    args = dataclasses.replace(UNIT_ARGS, **changes)
    return build_component(lambda: ServiceWorkload("unit", args))


def test_args_alone_define_the_pods(build_component: Callable[..., StackRun]) -> None:
    run = built(build_component)
    c, spec = container(run), pod_spec(run)
    assert config_data(run) == {
        "APP_NAME": "wal-service",
        "APP_ENV": "test",
        "LOG_LEVEL": "info",
        "PORT": "8080",
        "DRAIN_SECONDS": "4",
        "SHUTDOWN_TIMEOUT_SECONDS": "5",
        "MAX_BODY_BYTES": "4096",
        "MAX_JSON_DEPTH": "8",
        "MAX_HEADER_BYTES": "2048",
        "MAX_INFLIGHT_BYTES": "8192",
        "MAX_CONNECTIONS": "3",
        "HEADER_READ_TIMEOUT_SECONDS": "6",
        "BODY_READ_TIMEOUT_SECONDS": "7",
        "FLAG_X": "on",
    }
    assert c["resources"] == {
        "requests": {"cpu": "10m", "memory": "16Mi", "ephemeral-storage": "48Mi"},
        "limits": {"cpu": "20m", "memory": "32Mi", "ephemeral-storage": "96Mi"},
    }
    # 11 s of budget polled every 2 s: six failures, the fewest that cover it.
    assert (c["startupProbe"]["httpGet"]["path"], c["startupProbe"]["failureThreshold"]) == ("/healthz", 6)
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["lifecycle"] == {"preStop": {"sleep": {"seconds": 3}}}
    assert spec["terminationGracePeriodSeconds"] == 13
    assert deployment(run).spec["replicas"] == 1
    assert pod_labels(run)["app.kubernetes.io/instance"] == "wal-service-unit"
    assert run.maybe("HorizontalPodAutoscaler") is None and run.maybe("PodDisruptionBudget") is None
    assert "topologySpreadConstraints" not in spec
    route = run.one("HTTPRoute")
    assert route.spec["hostnames"] == ["unit.example.com"] and run.maybe("Ingress") is None
    assert route.spec["parentRefs"][0]["namespace"] == "edge" and route.spec["parentRefs"][0]["name"] == "shared"
    (allow,) = [p for p in run.objects("NetworkPolicy") if p.metadata["name"] == "allow-gateway"]
    gateway_peer = allow.spec["ingress"][0]["from"][0]
    assert gateway_peer["podSelector"]["matchLabels"] == {"gateway.networking.k8s.io/gateway-name": "shared"}


def test_args_alone_autoscaling_and_tls(build_component: Callable[..., StackRun]) -> None:
    run = built(
        build_component,
        scaling=Scaling(replicas=1, autoscaling=True, min_replicas=3, max_replicas=6, target_cpu_utilization=55),
        shutdown=Shutdown(
            pre_stop_seconds=0, drain_seconds=1, shutdown_timeout_seconds=1, termination_grace_period_seconds=3
        ),
        routing=Routing(
            host="unit.example.com",
            via=IngressRoute(
                class_name="nginx",
                controller_namespace="ingress",
                tls_secret_name="unit-tls",
                annotations={"example.com/owner": "team"},
            ),
        ),
    )
    hpa = run.one("HorizontalPodAutoscaler")
    assert (hpa.spec["minReplicas"], hpa.spec["maxReplicas"]) == (3, 6)
    assert hpa.spec["metrics"][0]["resource"]["target"]["averageUtilization"] == 55
    assert "replicas" not in deployment(run).spec
    assert run.one("PodDisruptionBudget").spec["maxUnavailable"] == 1
    assert len(pod_spec(run)["topologySpreadConstraints"]) == 2
    assert "lifecycle" not in container(run), "preStopSeconds 0 means no preStop hook"
    ingress = run.one("Ingress")
    assert ingress.spec["tls"] == [{"hosts": ["unit.example.com"], "secretName": "unit-tls"}]
    assert ingress.metadata["annotations"] == {"example.com/owner": "team", "pulumi.com/patchForce": "true"}
    assert run.maybe("HTTPRoute") is None


def test_checksum_covers_every_config_entry(build_component: Callable[..., StackRun]) -> None:
    """Entries from other components (the database's host) roll the pods as the program's own do."""

    def checksum(**changes: Any) -> str:
        value: str = deployment(built(build_component, **changes)).spec["template"]["metadata"]["annotations"][
            "checksum/config"
        ]
        return value

    first = checksum(extra_config={"DATABASE_HOST": "db-a"})
    assert checksum(extra_config={"DATABASE_HOST": "db-a"}) == first, "the checksum must be stable"
    assert checksum(extra_config={"DATABASE_HOST": "db-b"}) != first
    assert (
        checksum(
            extra_config={"DATABASE_HOST": "db-a"}, config=dataclasses.replace(UNIT_ARGS.config, log_level="error")
        )
        != first
    )


def test_secret_checksums_roll_the_pods(build_component: Callable[..., StackRun]) -> None:
    """A Secret updated in place leaves running pods on the old value: its checksum is in the pod template."""

    def annotations(checksum: str | None) -> dict[str, str]:
        env = {"DATABASE_PASSWORD": SecretEnv("db", "password", checksum)} if checksum else {}
        run = built(build_component, secret_env=env)
        value: dict[str, str] = deployment(run).spec["template"]["metadata"]["annotations"]
        return value

    first = annotations("c1")["checksum/secrets"]
    assert annotations("c1")["checksum/secrets"] == first, "the checksum must be stable"
    assert annotations("c2")["checksum/secrets"] != first
    assert "checksum/secrets" not in annotations(None), "no Secret read, nothing to follow"
    run = built(build_component, secret_env={"DATABASE_PASSWORD": SecretEnv("db", "password", "c1")})
    (env,) = container(run)["env"]
    assert env == {"name": "DATABASE_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}}
