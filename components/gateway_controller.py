"""GatewayController: the Gateway API CRDs and NGINX Gateway Fabric, installed into a kind cluster the stack owns.

Each kind stack owns its controller (its cluster is its own), so dev and staging share nothing but the
Docker host. README "Routing" says why this implementation and not cloud-provider-kind.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

# The chart's home (gatewayChart's default); a local chart (a mirror's copy) is installed at its own version.
CHART = "oci://ghcr.io/nginx/charts/nginx-gateway-fabric"
CHART_VERSION = "2.6.5"
RELEASE_NAME = "ngf"
CONTROLLER_NAME = "gateway.nginx.org/nginx-gateway-controller"
# kind maps these node ports to the host ports on 127.0.0.1 (components/kind_cluster.py).
HTTP_NODE_PORT = 30080
HTTPS_NODE_PORT = 30443


def kind_values(gateway_class: str, https_listener: bool) -> dict[str, Any]:
    """Chart values for a kind cluster (charts/nginx-gateway-fabric/values.yaml in nginx/nginx-gateway-fabric)."""
    node_ports = [{"port": HTTP_NODE_PORT, "listenerPort": 80}]
    if https_listener:
        node_ports.append({"port": HTTPS_NODE_PORT, "listenerPort": 443})
    return {
        "nginxGateway": {
            "gatewayClassName": gateway_class,
            # A local cluster has no business reporting usage to the vendor.
            "productTelemetry": {"enable": False},
        },
        "nginx": {
            "service": {
                # The data plane Service for every Gateway; each Gateway listener port gets a fixed node port
                # that kind maps to 127.0.0.1 (NGF's own kind guide does the same).
                "type": "NodePort",
                "nodePorts": node_ports,
                # The chart's default (Local) drops node-port traffic on a node without a data plane pod;
                # only the control-plane node has the host port mappings, the pod may run on a worker.
                "externalTrafficPolicy": "Cluster",
            },
        },
    }


@dataclass(frozen=True)
class GatewayControllerArgs:
    namespace: str
    """Namespace of the controller, and of the Gateway whose data plane it provisions there."""
    gateway_class: str
    """GatewayClass the controller creates and serves."""
    https_listener: bool
    """The Gateway has an HTTPS listener, whose node port kind maps (components/kind_cluster.py)."""
    crd_files: list[str]
    """The Gateway API CRDs' manifests (components/gateway_api_crds.py), installed before the chart."""
    chart: str = CHART
    """The chart: its OCI repository, a mirror, or a local chart directory or archive."""


class GatewayController(pulumi.ComponentResource):
    gateway_class: pulumi.Output[str]
    release_status: pulumi.Output[Any]

    def __init__(self, name: str, args: GatewayControllerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:GatewayController", name, None, opts)
        # ConfigGroup applies with server-side apply, which the bundle needs: the HTTPRoute CRD is larger than
        # client-side apply's last-applied annotation allows (the Gateway API install guide says --server-side).
        crds = k8s.yaml.v2.ConfigGroup(
            f"{name}-gateway-api-crds", files=args.crd_files, opts=pulumi.ResourceOptions(parent=self)
        )
        # helm.v3.Release runs the chart's hooks (its cert-generator Job is a pre-install hook; helm.v4.Chart
        # skips hooks) and, with atomic, waits for the controller to be ready. The chart expects the Gateway
        # API CRDs to be there first (its README) and brings its own CRDs (NginxProxy...) in crds/.
        release = k8s.helm.v3.Release(
            f"{name}-release",
            name=RELEASE_NAME,
            chart=args.chart,
            version=CHART_VERSION,
            namespace=args.namespace,
            create_namespace=True,
            values=kind_values(args.gateway_class, args.https_listener),
            atomic=True,
            cleanup_on_fail=True,
            wait_for_jobs=True,
            timeout=600,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[crds]),
        )
        self.release_status = release.status
        self.gateway_class = release.status.apply(lambda _: args.gateway_class)
        self.register_outputs({"gateway_class": self.gateway_class, "release_status": self.release_status})
