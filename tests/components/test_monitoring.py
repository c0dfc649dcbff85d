"""Metrics scraping: prometheus.io/* pod annotations, or a ServiceMonitor valid per the operator's CRD and
created only once that CRD is known to exist; the scraper's namespace reaches the HTTP port and nothing else."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jsonschema
import pytest
import yaml

from components.app_config import HTTP_PORT
from components.crd_check import CHECK_SCRIPT
from components.monitoring import METRICS_PATH
from e2e.upstream_files import service_monitor_crd

if TYPE_CHECKING:
    from conftest import MockRuns, StackRun

ROOT = Path(__file__).resolve().parent.parent.parent
CRD_NAME = "servicemonitors.monitoring.coreos.com"


def strict(schema: dict[str, Any]) -> dict[str, Any]:
    """The CRD schema with unknown fields refused, as the API server's pruning would silently drop them."""
    schema = dict(schema)
    if "properties" in schema:
        schema["properties"] = {key: strict(value) for key, value in schema["properties"].items()}
        schema.setdefault("additionalProperties", False)
    if isinstance(schema.get("items"), dict):
        schema["items"] = strict(schema["items"])
    return schema


@pytest.fixture(scope="module")
def service_monitor_schema() -> dict[str, Any]:
    crd = yaml.safe_load(service_monitor_crd().read_text())
    assert crd["metadata"]["name"] == CRD_NAME
    (version,) = crd["spec"]["versions"]
    return strict(version["schema"]["openAPIV3Schema"])


def test_schema_check_can_fail(service_monitor_schema: dict[str, Any]) -> None:
    bad = {"apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor", "metadata": {}, "spec": {"selector": {}}}
    with pytest.raises(jsonschema.ValidationError, match="endpoints"):
        jsonschema.validate(bad, service_monitor_schema)
    typo = {**bad, "spec": {"selector": {}, "endpoints": [{"port": "http", "intervall": "30s"}]}}
    with pytest.raises(jsonschema.ValidationError, match="intervall"):
        jsonschema.validate(typo, service_monitor_schema)


def test_prod_service_monitor_is_valid_and_selects_our_service(run_prod: StackRun, service_monitor_schema: Any) -> None:
    monitor = run_prod.one("ServiceMonitor")
    jsonschema.validate(monitor.body, service_monitor_schema)
    service = run_prod.one("Service", "ServiceWorkload")
    selector = monitor.spec["selector"]["matchLabels"]
    assert selector.items() <= service.metadata["labels"].items(), f"{monitor} does not select {service}"
    ports = {p["name"] for p in service.spec["ports"]}
    (endpoint,) = monitor.spec["endpoints"]
    assert endpoint["port"] in ports and endpoint["path"] == METRICS_PATH, f"{monitor}: endpoint {endpoint}"
    assert monitor.metadata["labels"]["release"] == "kube-prometheus-stack", "prod's serviceMonitorSelector label"
    assert monitor.metadata["namespace"] == service.metadata["namespace"]


def test_service_monitor_waits_for_the_crd_check(run_prod: StackRun) -> None:
    monitor = run_prod.one("ServiceMonitor").registration
    check = [r for r in run_prod.registrations if r["name"].endswith("-servicemonitor-crd-check")]
    assert len(check) == 1, "no CRD check command registered"
    assert check[0]["urn"] in monitor["dependencies"], "the ServiceMonitor is created without the CRD check"
    assert f"CRD\x00{CRD_NAME}" in "\x00".join(
        f"{k}\x00{v}" for k, v in (check[0]["inputs"].get("environment") or {}).items()
    ), "the check does not look for the ServiceMonitor CRD"


def test_annotations_mode_marks_the_pods_and_nothing_else(run_dev: StackRun) -> None:
    deployment = run_dev.one("Deployment", "ServiceWorkload")
    annotations = deployment.spec["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == METRICS_PATH
    (container,) = deployment.spec["template"]["spec"]["containers"]
    assert annotations["prometheus.io/port"] == str(HTTP_PORT) == str(container["ports"][0]["containerPort"])
    assert not run_dev.objects("ServiceMonitor")


def _metrics_policy(run: StackRun) -> Any:
    return next((o for o in run.objects("NetworkPolicy") if o.metadata["name"] == "allow-metrics-scrape"), None)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_scraper_namespace_reaches_the_http_port_only(mockruns: MockRuns, stack: str) -> None:
    run = mockruns.get(stack)
    policy = _metrics_policy(run)
    assert policy is not None, f"stack {stack}: no allow-metrics-scrape NetworkPolicy"
    assert policy.spec["podSelector"]["matchLabels"] == run.one("Service", "ServiceWorkload").spec["selector"]
    assert policy.spec["policyTypes"] == ["Ingress"]
    (rule,) = policy.spec["ingress"]
    assert rule["from"] == [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http"}], f"{policy}: more than the HTTP port"


def test_monitoring_none_adds_nothing(mockruns: MockRuns) -> None:
    run = mockruns.get("dev", ["wal-service:monitoring=none"])
    assert run.returncode == 0, run.error
    assert _metrics_policy(run) is None and not run.objects("ServiceMonitor")
    annotations = run.one("Deployment", "ServiceWorkload").spec["template"]["metadata"]["annotations"]
    assert not [key for key in annotations if key.startswith("prometheus.io/")]


@pytest.fixture
def run_dev(mockruns: MockRuns) -> StackRun:
    return mockruns.get("dev")


@pytest.fixture
def run_prod(mockruns: MockRuns) -> StackRun:
    return mockruns.get("prod")


def run_crd_check(tmp_path: Path, kubectl_exit: int) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\nexit {kubectl_exit}\n')
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "CRD": CRD_NAME,
        "KIND": "ServiceMonitor",
        "FIX": "install the Prometheus Operator",
        "KUBE_CONTEXT": "wal-service-prod",
        "KUBECONFIG_PATH": "",
    }
    return subprocess.run(["sh", "-c", CHECK_SCRIPT], env=environment, capture_output=True, text=True, check=False)


def test_crd_check_refuses_a_cluster_without_the_crd_in_one_line(tmp_path: Path) -> None:
    proc = run_crd_check(tmp_path, 1)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert f"no CustomResourceDefinition {CRD_NAME}" in proc.stderr and "install the Prometheus Operator" in proc.stderr
    assert (tmp_path / "args").read_text().split()[:5] == [
        "--context",
        "wal-service-prod",
        "get",
        "customresourcedefinition",
        CRD_NAME,
    ]


def test_crd_check_passes_when_the_crd_exists(tmp_path: Path) -> None:
    proc = run_crd_check(tmp_path, 0)
    assert proc.returncode == 0, proc.stderr
    assert f"{CRD_NAME} is installed" in proc.stdout
