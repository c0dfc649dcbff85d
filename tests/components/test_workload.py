"""ServiceWorkload: the operational facts of the service's objects, for every stack."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest

from components.app_config import AppConfig, Limits, Shutdown
from components.pod_spec import Probes, Resources, SecretEnv
from components.routes import GatewayRoute, IngressRoute, Routing
from components.workload import Scaling, ServiceWorkload, ServiceWorkloadArgs

if TYPE_CHECKING:
    from conftest import K8sObject, MockRuns, StackRun

WORKLOAD = "ServiceWorkload"


def deployment(run: StackRun) -> K8sObject:
    return run.one("Deployment", WORKLOAD)


def pod_labels(run: StackRun) -> dict[str, str]:
    labels: dict[str, str] = deployment(run).spec["template"]["metadata"]["labels"]
    return labels


def pod_spec(run: StackRun) -> dict[str, Any]:
    spec: dict[str, Any] = deployment(run).spec["template"]["spec"]
    return spec


def container(run: StackRun) -> dict[str, Any]:
    containers = pod_spec(run)["containers"]
    assert len(containers) == 1, f"{deployment(run)}: expected one container, got {len(containers)}"
    c: dict[str, Any] = containers[0]
    return c


def config_data(run: StackRun) -> dict[str, str]:
    data: dict[str, str] = run.one("ConfigMap", WORKLOAD).body["data"]
    return data


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(key) == value for key, value in selector.items())


# --- every object --------------------------------------------------------------


# What an object belongs to decides its labels: (app.kubernetes.io/name, component, carries a version).
NAMESPACE_WIDE = ("wal-service", "namespace", False)
OWNERS: dict[str, tuple[str, str, bool]] = {
    "AppNamespace": NAMESPACE_WIDE,
    "ImagePullSecret": NAMESPACE_WIDE,
    "NamespaceQuota": NAMESPACE_WIDE,
    "ServiceWorkload": ("wal-service", "api", True),
    # The API's keys change on their own schedule (rotation), not with a release.
    "ApiKeys": ("wal-service", "api", False),
    "Database": ("postgresql", "database", True),
    "LocalRegistry": ("registry", "registry", False),
    "ServiceGateway": ("wal-service", "gateway", False),
}
# The namespace-wide policies the workload component creates: every pod of the namespace, not the API's.
NAMESPACE_POLICIES = {"default-deny", "allow-dns-egress"}


def owner(obj: K8sObject) -> tuple[str, str, bool]:
    if obj.kind == "NetworkPolicy" and obj.metadata.get("name") in NAMESPACE_POLICIES:
        return NAMESPACE_WIDE
    component = obj.parent_type.rsplit(":", 1)[-1]
    if component == "Database" and obj.kind == "Secret":
        return ("postgresql", "database", False)  # the password outlives any PostgreSQL image
    assert component in OWNERS, f"{obj}: registered by {component}, which has no label rule here"
    return OWNERS[component]


def test_every_object_is_labelled_by_what_it_belongs_to(run: StackRun) -> None:
    objects = run.objects()
    assert len(objects) >= 10, f"stack {run.stack}: only {len(objects)} objects"
    for obj in objects:
        assert obj.metadata.get("name"), f"{obj}: no explicit metadata.name (it would be auto-named)"
        labels = obj.metadata.get("labels") or {}
        name, component, versioned = owner(obj)
        assert labels.get("app.kubernetes.io/name") == name, f"{obj}: name label {labels}"
        assert labels.get("app.kubernetes.io/component") == component, f"{obj}: component label {labels}"
        assert labels.get("app.kubernetes.io/part-of") == "wal-service", f"{obj}: part-of label {labels}"
        assert labels.get("app.kubernetes.io/managed-by") == "pulumi", f"{obj}: managed-by label {labels}"
        assert labels.get("app.kubernetes.io/instance"), f"{obj}: no instance label"
        # A version only where it is the object's own: objects that do not change with a release carry none,
        # so a new image touches only the workload (and the database only with its own image).
        assert bool(labels.get("app.kubernetes.io/version")) == versioned, f"{obj}: version label {labels}"
        if component == "api" and versioned:
            assert labels["app.kubernetes.io/version"] == run.outputs["revision"], f"{obj}: not the revision"
        if name == "wal-service":
            assert labels["app.kubernetes.io/instance"] == f"wal-service-{run.stack}", f"{obj}: instance label"


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


def test_container_port_and_config(run: StackRun) -> None:
    c = container(run)
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in c.get("ports", []), (
        f"{deployment(run)}: no port named http on 8080: {c.get('ports')}"
    )
    config_name = run.one("ConfigMap", WORKLOAD).metadata["name"]
    assert {"configMapRef": {"name": config_name}} in c.get("envFrom", []), (
        f"{deployment(run)}: envFrom does not reference ConfigMap {config_name}: {c.get('envFrom')}"
    )


# Stack config key -> the service's environment variable (app/README.md "Configuration").
SERVICE_LIMITS = {
    "maxBodyBytes": "MAX_BODY_BYTES",
    "maxJsonDepth": "MAX_JSON_DEPTH",
    "maxHeaderBytes": "MAX_HEADER_BYTES",
    "maxInflightBytes": "MAX_INFLIGHT_BYTES",
    "maxConnections": "MAX_CONNECTIONS",
    "headerReadTimeoutSeconds": "HEADER_READ_TIMEOUT_SECONDS",
    "bodyReadTimeoutSeconds": "BODY_READ_TIMEOUT_SECONDS",
}


def test_service_limits_come_from_stack_config(run: StackRun, config: dict[str, str]) -> None:
    data = config_data(run)
    for key, env in SERVICE_LIMITS.items():
        assert data.get(env) == str(config[key]), (
            f"{run.one('ConfigMap', WORKLOAD)}: {env}={data.get(env)!r} but {key}={config[key]!r}"
        )


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


def test_probes(run: StackRun, config: dict[str, str]) -> None:
    c, where = container(run), deployment(run)
    startup, readiness, liveness = c.get("startupProbe"), c.get("readinessProbe"), c.get("livenessProbe")
    assert startup and readiness and liveness, f"{where}: missing a probe (startup, readiness, liveness)"
    assert startup["httpGet"] == {"path": config["healthPath"], "port": "http"}, f"{where}: startup {startup}"
    assert startup["periodSeconds"] <= 2, f"{where}: startup polls every {startup['periodSeconds']} s"
    assert "initialDelaySeconds" not in startup, f"{where}: startup probe has an initial delay"
    budget = int(config["startupBudgetSeconds"])
    # The fewest failures that cover the budget: more would leave a hung start alone for longer than configured.
    assert startup["failureThreshold"] == -(-budget // startup["periodSeconds"]), (
        f"{where}: startup probe gives up after {startup['failureThreshold'] * startup['periodSeconds']} s, "
        f"startupBudgetSeconds is {budget}"
    )
    assert readiness["httpGet"] == {"path": config["readyPath"], "port": "http"}, f"{where}: readiness {readiness}"
    assert liveness["httpGet"] == {"path": config["healthPath"], "port": "http"}, f"{where}: liveness {liveness}"
    assert "initialDelaySeconds" not in liveness, f"{where}: liveness has an initial delay (startup covers it)"
    assert config["readyPath"] != config["healthPath"], "readiness and liveness share a path"


def test_resources_equal_stack_config(run: StackRun, config: dict[str, str]) -> None:
    resources = container(run).get("resources") or {}
    assert resources.get("requests") == {
        "cpu": config["cpuRequest"],
        "memory": config["memoryRequest"],
        "ephemeral-storage": config["ephemeralStorageRequest"],
    }, f"{deployment(run)}: requests {resources.get('requests')}"
    assert resources.get("limits") == {
        "cpu": config["cpuLimit"],
        "memory": config["memoryLimit"],
        "ephemeral-storage": config["ephemeralStorageLimit"],
    }, f"{deployment(run)}: limits {resources.get('limits')}"


def test_ephemeral_storage_follows_the_stack_config(mockruns: MockRuns) -> None:
    changed = mockruns.get(
        "dev", ["wal-service:ephemeralStorageRequest=300Mi", "wal-service:ephemeralStorageLimit=1Gi"]
    )
    resources = container(changed)["resources"]
    assert (resources["requests"]["ephemeral-storage"], resources["limits"]["ephemeral-storage"]) == ("300Mi", "1Gi"), (
        f"{deployment(changed)}: {resources}"
    )
    # The quota and the LimitRange follow the container: 5 service pods x 1Gi + the database's 256Mi, plus 25%.
    assert changed.one("ResourceQuota").spec["hard"]["limits.ephemeral-storage"] == "6720Mi"
    (item,) = changed.one("LimitRange").spec["limits"]
    assert item["default"]["ephemeral-storage"] == item["max"]["ephemeral-storage"] == "1Gi"


def test_restricted_security_context(run: StackRun) -> None:
    where, spec, c = deployment(run), pod_spec(run), container(run)
    pod_sc, sc = spec.get("securityContext") or {}, c.get("securityContext") or {}

    def effective(key: str) -> Any:
        return sc.get(key, pod_sc.get(key))

    assert effective("runAsNonRoot") is True, f"{where}: runAsNonRoot not set"
    assert effective("runAsUser") not in (None, 0), f"{where}: runAsUser {effective('runAsUser')}"
    assert sc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation not false"
    assert (sc.get("capabilities") or {}).get("drop") == ["ALL"], f"{where}: capabilities {sc.get('capabilities')}"
    assert not (sc.get("capabilities") or {}).get("add"), f"{where}: adds capabilities"
    assert (effective("seccompProfile") or {}).get("type") == "RuntimeDefault", f"{where}: seccomp not RuntimeDefault"
    assert sc.get("readOnlyRootFilesystem") is True, f"{where}: root filesystem writable"
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    tmp = [m for m in c.get("volumeMounts", []) if m["mountPath"] == "/tmp"]
    assert tmp, f"{where}: no volume at /tmp (a read-only root needs one)"
    assert "emptyDir" in volumes.get(tmp[0]["name"], {}), f"{where}: /tmp is not an emptyDir: {volumes}"


def test_graceful_shutdown(run: StackRun, config: dict[str, str]) -> None:
    where = deployment(run)
    pre_stop = ((container(run).get("lifecycle") or {}).get("preStop") or {}).get("sleep", {}).get("seconds")
    assert pre_stop, f"{where}: no preStop sleep"
    assert pre_stop == int(config["preStopSeconds"]), f"{where}: preStop {pre_stop} != config"
    data = config_data(run)
    needed = pre_stop + int(data["DRAIN_SECONDS"]) + int(data["SHUTDOWN_TIMEOUT_SECONDS"])
    grace = pod_spec(run).get("terminationGracePeriodSeconds")
    assert grace is not None and grace > needed, (
        f"{where}: terminationGracePeriodSeconds {grace} must exceed preStop + DRAIN_SECONDS + "
        f"SHUTDOWN_TIMEOUT_SECONDS = {needed}"
    )


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


def test_topology_spread_only_with_several_pods(run: StackRun, expected_min_pods: int) -> None:
    where = deployment(run)
    constraints = pod_spec(run).get("topologySpreadConstraints") or []
    if expected_min_pods > 1:
        assert constraints, f"{where}: {expected_min_pods} pods but no topology spread"
        keys = [c.get("topologyKey") for c in constraints]
        assert keys == ["kubernetes.io/hostname", "topology.kubernetes.io/zone"], f"{where}: {keys}"
        for constraint in constraints:
            assert constraint.get("matchLabelKeys") == ["pod-template-hash"], f"{where}: {constraint}"
            # Soft: kind nodes carry no zone label, and a hard zone constraint would leave every pod Pending.
            assert constraint.get("whenUnsatisfiable") == "ScheduleAnyway", f"{where}: {constraint}"
            assert matches(constraint["labelSelector"]["matchLabels"], pod_labels(run)), f"{where}: {constraint}"
    else:
        assert not constraints, f"{where}: topology spread with a single pod: {constraints}"


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


# --- Service and Ingress ------------------------------------------------------------


def test_service(run: StackRun) -> None:
    service = run.one("Service", WORKLOAD)
    assert service.spec.get("type") == "ClusterIP", f"{service}: type {service.spec.get('type')}"
    ports = service.spec.get("ports", [])
    assert [p.get("name") for p in ports] == ["http"], f"{service}: ports {ports}"
    assert ports[0].get("targetPort") in ("http", 8080), f"{service}: targetPort {ports[0].get('targetPort')}"
    assert matches(service.spec["selector"], pod_labels(run)), f"{service}: selector misses the pods"


def test_route(run: StackRun, config: dict[str, str]) -> None:
    """gateway routing: one HTTPRoute, one hostname, PathPrefix / to the Service, no filters; no Ingress."""
    if config["routing"] != "gateway":
        assert run.maybe("HTTPRoute", WORKLOAD) is None, f"stack {run.stack}: an HTTPRoute in ingress mode"
        return
    assert run.maybe("Ingress", WORKLOAD) is None, f"stack {run.stack}: an Ingress in gateway mode"
    route = run.one("HTTPRoute", WORKLOAD)
    assert route.body["apiVersion"] == "gateway.networking.k8s.io/v1", f"{route}: apiVersion"
    assert route.spec["hostnames"] == [config["host"]], f"{route}: hostnames"
    parent = {"namespace": config["gatewayNamespace"], "name": config["gatewayName"]}
    assert [{k: r.get(k) for k in parent} for r in route.spec["parentRefs"]] == [parent], f"{route}: parentRefs"
    service = run.one("Service", WORKLOAD)
    assert route.spec["rules"] == [
        {
            "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
            "backendRefs": [{"name": service.metadata["name"], "port": 8080}],
        }
    ], f"{route}: rules (no filters, no rewrite)"
    assert service.spec["ports"][0]["port"] == 8080, f"{service}: the route's backend port"
    wait_for = json.loads(route.metadata["annotations"]["pulumi.com/waitFor"])
    # Each condition is read from our Gateway's status entry, never from whichever parent is listed first.
    ours = f'[?(@.parentRef.name=="{parent["name"]}" && @.parentRef.namespace=="{parent["namespace"]}")]'
    assert sorted(wait_for) == sorted(
        f'jsonpath={{.status.parents{ours}.conditions[?(@.type=="{condition}")].status}}=True'
        for condition in ("Accepted", "ResolvedRefs")
    ), f"{route}: up must await acceptance by our Gateway: {wait_for}"


def test_ingress(run: StackRun, config: dict[str, str]) -> None:
    if config["routing"] != "ingress":
        return
    ingress = run.one("Ingress", WORKLOAD)
    spec = ingress.spec
    assert spec.get("ingressClassName") == config["ingressClassName"], f"{ingress}: ingressClassName"
    rules = spec.get("rules", [])
    assert [r.get("host") for r in rules] == [config["host"]], f"{ingress}: hosts {rules}"
    paths = rules[0]["http"]["paths"]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/", "Prefix")], f"{ingress}: paths {paths}"
    backend = paths[0]["backend"]["service"]
    assert backend == {"name": run.one("Service", WORKLOAD).metadata["name"], "port": {"name": "http"}}, (
        f"{ingress}: backend {backend}"
    )
    annotations = ingress.metadata.get("annotations") or {}
    assert not [key for key in annotations if key.endswith(("/rewrite-target", "/use-regex"))], (
        f"{ingress}: path-rewriting annotations {annotations}"
    )
    if config["tlsSecretName"]:
        assert spec.get("tls") == [{"hosts": [config["host"]], "secretName": config["tlsSecretName"]}], (
            f"{ingress}: tls {spec.get('tls')}"
        )
    else:
        assert not spec.get("tls"), f"{ingress}: tls without a tlsSecretName"


def test_production_serves_tls(mockruns: MockRuns) -> None:
    prod = mockruns.get("prod")
    ingress = prod.one("Ingress", WORKLOAD)
    assert ingress.spec.get("tls"), f"{ingress}: production Ingress without TLS"
    assert prod.outputs["url"].startswith("https://"), f"stack prod: url {prod.outputs['url']}"


# --- NetworkPolicies -----------------------------------------------------------------


def test_default_deny(run: StackRun) -> None:
    denies = [
        p
        for p in run.objects("NetworkPolicy", WORKLOAD)
        if not (p.spec.get("podSelector") or {}).get("matchLabels")
        and not (p.spec.get("podSelector") or {}).get("matchExpressions")
        and set(p.spec.get("policyTypes", [])) == {"Ingress", "Egress"}
        and not p.spec.get("ingress")
        and not p.spec.get("egress")
    ]
    assert denies, f"stack {run.stack}: no default-deny NetworkPolicy (empty podSelector, both policy types)"


def test_dns_egress(run: StackRun) -> None:
    dns_peer = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    for policy in run.objects("NetworkPolicy", WORKLOAD):
        selector = policy.spec.get("podSelector") or {}
        if selector.get("matchLabels") and not matches(selector["matchLabels"], pod_labels(run)):
            continue
        for rule in policy.spec.get("egress", []):
            ports = {(p.get("protocol"), p.get("port")) for p in rule.get("ports", [])}
            if dns_peer in rule.get("to", []) and {("UDP", 53), ("TCP", 53)} <= ports:
                return
    pytest.fail(f"stack {run.stack}: no NetworkPolicy lets the pods reach kube-dns on UDP and TCP 53")


def test_traffic_only_from_what_routes_it(run: StackRun, config: dict[str, str]) -> None:
    """The Gateway's data-plane pods (gateway routing) or the ingress controller's namespace, on the http port."""
    namespace = {"kubernetes.io/metadata.name": config["gatewayNamespace"]}
    peer: dict[str, Any] = {
        "namespaceSelector": {"matchLabels": namespace},
        "podSelector": {"matchLabels": {"gateway.networking.k8s.io/gateway-name": config["gatewayName"]}},
    }
    if config["routing"] == "ingress":
        peer = {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": config["ingressControllerNamespace"]}}
        }
    # Besides the route, only the metrics scraper's namespace (tests/components/test_monitoring.py).
    allowed = [[peer]]
    if config["monitoring"] != "none":
        scraper = config["monitoringNamespace"]
        allowed.append([{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": scraper}}}])
    found = []
    for policy in run.objects("NetworkPolicy", WORKLOAD):
        for rule in policy.spec.get("ingress", []):
            assert rule.get("from"), f"{policy}: an ingress rule without `from` admits every source"
            assert rule["from"] in allowed, f"{policy}: admits {rule['from']}, not only one of {allowed}"
            if rule["from"] == [peer]:
                found.append(policy)
            ports = [(p.get("protocol"), p.get("port")) for p in rule.get("ports", [])]
            assert ports == [("TCP", "http")] or ports == [("TCP", 8080)], f"{policy}: ports {ports}"
            assert matches(policy.spec["podSelector"].get("matchLabels") or {}, pod_labels(run)), (
                f"{policy}: podSelector misses the service's pods"
            )
    assert found, f"stack {run.stack}: no NetworkPolicy admits {peer}"


def test_policy_selectors_match_pods(run: StackRun) -> None:
    selected = [
        p for p in run.objects("NetworkPolicy", WORKLOAD) if (p.spec.get("podSelector") or {}).get("matchLabels")
    ]
    # The routing and egress policies select the service's pods by label.
    assert len(selected) >= 2, f"stack {run.stack}: only {[str(p) for p in selected]} select pods by label"
    for policy in selected:
        selector = policy.spec["podSelector"]["matchLabels"]
        assert matches(selector, pod_labels(run)), f"{policy}: podSelector {selector} matches no service pod"


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
