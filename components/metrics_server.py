"""MetricsServer: the resource metrics API a HorizontalPodAutoscaler reads, installed into a kind cluster.

kind ships no metrics-server, so without it an HPA reports `<unknown>` targets and never scales. Only a kind
stack that autoscales gets one; an existing cluster brings its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

# The chart of kubernetes-sigs/metrics-server, pinned: chart 3.13.1 runs metrics-server v0.8.1 (its release notes).
CHART = "metrics-server"
CHART_REPO = "https://kubernetes-sigs.github.io/metrics-server/"
CHART_VERSION = "3.13.1"
NAMESPACE = "kube-system"
# kind's kubelets serve a self-signed certificate that no cluster CA signed, so metrics-server cannot verify
# it (metrics-server README, "Requirements" / kind): skip that verification, and only on a kind cluster.
KIND_ARGS = ["--kubelet-insecure-tls"]


@dataclass(frozen=True)
class MetricsServerArgs:
    namespace: str = NAMESPACE
    """Namespace the release goes to (metrics-server's own default, kube-system)."""


class MetricsServer(pulumi.ComponentResource):
    release_status: pulumi.Output[object]

    def __init__(self, name: str, args: MetricsServerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:MetricsServer", name, None, opts)
        release = k8s.helm.v3.Release(
            f"{name}-release",
            name=CHART,
            chart=CHART,
            version=CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPO),
            namespace=args.namespace,
            values={"args": KIND_ARGS},
            atomic=True,
            cleanup_on_fail=True,
            timeout=300,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.release_status = release.status
        self.register_outputs({"release_status": self.release_status})
