"""How Prometheus finds the service's /metrics: prometheus.io/* pod annotations, or a Prometheus Operator
ServiceMonitor. Either way the scraper's namespace is admitted to the HTTP port (network_policies.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.meta.v1 import ObjectMetaArgs

from components.app_config import HTTP_PORT, HTTP_PORT_NAME
from components.labels import APP_NAME
from components.ownership import owned

METRICS_PATH = "/metrics"
# The CustomResourceDefinition a ServiceMonitor needs; the Environment checks that it exists (CrdCheck) first.
SERVICE_MONITOR_CRD = "servicemonitors.monitoring.coreos.com"
SCRAPE_INTERVAL = "30s"


@dataclass(frozen=True)
class Monitoring:
    """How Prometheus finds the service's /metrics (served on the HTTP port)."""

    mode: str = "none"
    """none, annotations (prometheus.io/* on the pods) or servicemonitor (a monitoring.coreos.com/v1 ServiceMonitor)."""
    scraper_namespace: str = "monitoring"
    """Namespace of the Prometheus pods: admitted to the HTTP port, and to nothing else."""
    service_monitor_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels the Prometheus serviceMonitorSelector matches."""
    ready: Sequence[pulumi.Resource] = ()
    """What must succeed before the ServiceMonitor is created (the check that its CRD is installed)."""


def scrape_annotations(monitoring: Monitoring) -> dict[str, str]:
    """The prometheus.io/* pod annotations that Prometheus's kubernetes-pods scrape job reads (annotations mode)."""
    if monitoring.mode != "annotations":
        return {}
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(HTTP_PORT), "prometheus.io/path": METRICS_PATH}


def service_monitor(
    name: str,
    namespace: pulumi.Input[str],
    monitoring: Monitoring,
    labels: dict[str, str],
    selector: dict[str, str],
    opts: pulumi.ResourceOptions,
) -> None:
    """A monitoring.coreos.com/v1 ServiceMonitor for the Prometheus Operator, once its CRD is known to exist
    (prometheus-operator example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml)."""
    k8s.apiextensions.CustomResource(
        f"{name}-servicemonitor",
        api_version="monitoring.coreos.com/v1",
        kind="ServiceMonitor",
        metadata=ObjectMetaArgs(
            name=APP_NAME,
            namespace=namespace,
            labels={**labels, **monitoring.service_monitor_labels},
            annotations=owned(),
        ),
        spec={
            # Matches our Service (it carries these labels), whose port HTTP_PORT_NAME serves /metrics.
            "selector": {"matchLabels": selector},
            "endpoints": [
                {"port": HTTP_PORT_NAME, "path": METRICS_PATH, "interval": SCRAPE_INTERVAL, "scheme": "http"}
            ],
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=list(monitoring.ready))),
    )
