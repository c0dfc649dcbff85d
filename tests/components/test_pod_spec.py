"""The service's pod: its container's port, probes, resources, security context, shutdown and spread."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

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


def test_container_port_and_config(run: StackRun) -> None:
    c = container(run)
    assert {"name": "http", "containerPort": 8080, "protocol": "TCP"} in c.get("ports", []), (
        f"{deployment(run)}: no port named http on 8080: {c.get('ports')}"
    )
    config_name = run.one("ConfigMap", WORKLOAD).metadata["name"]
    assert {"configMapRef": {"name": config_name}} in c.get("envFrom", []), (
        f"{deployment(run)}: envFrom does not reference ConfigMap {config_name}: {c.get('envFrom')}"
    )


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
