"""IngressController: ingress-nginx on a kind cluster, installed so its admission webhook really runs.

ingress-nginx was retired upstream in March 2026 (last release: chart 4.15.1, controller
v1.15.1). It is pinned here because kind's host-port recipe is proven with it; README
"Ingress controller" says what we move to (cloud-provider-kind with Gateway API).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

CHART = "ingress-nginx"
CHART_VERSION = "4.15.1"
CHART_REPO = "https://kubernetes.github.io/ingress-nginx"


def kind_values(ingress_class: str) -> dict[str, Any]:
    """ingress-nginx's own kind provider values (hack/manifest-templates/provider/kind/values.yaml)."""
    return {
        "controller": {
            "ingressClassResource": {"name": ingress_class},
            "ingressClass": ingress_class,
            "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}},
            # The kind node maps these container ports to 127.0.0.1 on the host.
            "hostPort": {"enabled": True},
            "terminationGracePeriodSeconds": 0,
            "service": {"type": "NodePort"},
            "watchIngressWithoutClass": False,
            "nodeSelector": {"ingress-ready": "true"},
            "tolerations": [
                {"key": "node-role.kubernetes.io/control-plane", "operator": "Equal", "effect": "NoSchedule"},
            ],
            "publishService": {"enabled": False},
            # Pulumi's Ingress await waits for .status.loadBalancer.ingress; with host ports nothing
            # else would fill it in, and `pulumi up` would hang for ten minutes.
            "extraArgs": {"publish-status-address": "localhost"},
        }
    }


@dataclass(frozen=True)
class IngressControllerArgs:
    namespace: str
    """Namespace of the controller; the service's NetworkPolicy admits traffic from it."""
    ingress_class: str
    """IngressClass name the controller serves."""


class IngressController(pulumi.ComponentResource):
    release_status: pulumi.Output[Any]

    def __init__(self, name: str, args: IngressControllerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:IngressController", name, None, opts)
        # helm.v3.Release runs chart hooks (the webhook's certgen jobs); helm.v4.Chart skips them
        # (pulumi-kubernetes overlays/chartV4.md, issue #3284), leaving a webhook with no certificate.
        release = k8s.helm.v3.Release(
            f"{name}-release",
            name=CHART,
            chart=CHART,
            version=CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
            namespace=args.namespace,
            create_namespace=True,
            values=kind_values(args.ingress_class),
            # Waits for the controller and its webhook to be ready, and rolls back a failed install.
            atomic=True,
            cleanup_on_fail=True,
            wait_for_jobs=True,
            timeout=600,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.release_status = release.status
        self.register_outputs({"release_status": self.release_status})
