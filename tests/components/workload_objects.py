"""The ServiceWorkload's objects in a mock run, as the tests of its modules read them (workload, pod_spec,
app_config, routes, network_policies, labels)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from conftest import K8sObject, StackRun

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
