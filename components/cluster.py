"""ClusterTarget: the one place that decides which cluster a stack deploys to."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s


@dataclass(frozen=True)
class ClusterTargetArgs:
    kubeconfig: pulumi.Input[str] | None
    """Kubeconfig path or contents; None means the kubectl default file."""
    context: pulumi.Input[str]
    """Context inside the kubeconfig that names the cluster."""


class ClusterTarget(pulumi.ComponentResource):
    """Builds the explicit Kubernetes provider every Kubernetes resource receives.

    The project disables the default Kubernetes provider, so a resource that is not
    given this provider fails to register instead of deploying to an ambient cluster.
    """

    provider: k8s.Provider
    kube_context: pulumi.Output[str]

    def __init__(self, name: str, args: ClusterTargetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:ClusterTarget", name, None, opts)
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=args.kubeconfig,
            context=args.context,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.kube_context = pulumi.Output.from_input(args.context)
        self.register_outputs({"kube_context": self.kube_context})
