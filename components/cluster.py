"""ClusterTarget: the one place that decides which cluster a stack deploys to."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from components.kind_cluster import KindCluster, KindClusterArgs


@dataclass(frozen=True)
class ClusterTargetArgs:
    kind: KindClusterArgs | None
    """Create this kind cluster and target it; None means an existing cluster."""
    kubeconfig: str = ""
    """Existing cluster: kubeconfig path; empty means kubectl's rules ($KUBECONFIG path list, else ~/.kube/config)."""
    context: str = ""
    """Existing cluster: context inside the kubeconfig (required)."""


class ClusterTarget(pulumi.ComponentResource):
    """Builds the explicit Kubernetes provider every Kubernetes resource receives.

    The project disables the default Kubernetes provider, so a resource that is not
    given this provider fails to register instead of deploying to an ambient cluster.
    """

    provider: k8s.Provider
    kube_context: pulumi.Output[str]
    kind: KindCluster | None
    kubeconfig: pulumi.Output[str] | None

    def __init__(self, name: str, args: ClusterTargetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:ClusterTarget", name, None, opts)
        kubeconfig: pulumi.Input[str]
        self.kind = None
        if args.kind is not None:
            cluster = self.kind = KindCluster(f"{name}-kind", args.kind, opts=pulumi.ResourceOptions(parent=self))
            kubeconfig, context = cluster.kubeconfig, cluster.kube_context
            self.kubeconfig = cluster.kubeconfig
        else:
            # Never None: for None the SDK copies $KUBECONFIG's value in as the kubeconfig *contents*
            # (pulumi_kubernetes/provider.py), and a path list then fails to parse. An empty string makes the
            # provider load with client-go's rules, path lists included (pulumi-kubernetes
            # provider/pkg/provider/provider.go, Configure), with the explicit context on top.
            kubeconfig, context = args.kubeconfig, pulumi.Output.from_input(args.context)
            self.kubeconfig = None
        self.provider = k8s.Provider(
            f"{name}-provider",
            kubeconfig=kubeconfig,
            context=context,
            # Otherwise a data change replaces a ConfigMap or Secret, and since ours have fixed names the
            # replacement deletes first and cascades to every dependent: a logLevel change deleted and
            # recreated the Deployment (seen with the real engine in `make e2e`; pulumi-kubernetes
            # provider/pkg/provider/diff.go forceNewProperties). Pods roll through checksum annotations.
            enable_config_map_mutable=True,
            enable_secret_mutable=True,
            # A kind cluster can vanish under the stack (`kind delete`, a Docker reset): refresh and destroy
            # then drop its objects from the state instead of failing on every one (pulumi-kubernetes
            # provider/pkg/provider/provider.go, Read and Delete). An existing cluster is never presumed gone.
            delete_unreachable=True if args.kind is not None else None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.kube_context = context
        self.register_outputs({"kube_context": self.kube_context})

    def options(self, parent: pulumi.Resource) -> pulumi.ResourceOptions:
        """Options for a component whose Kubernetes objects live in this cluster: its provider and, for a
        kind cluster, `deleted_with` the cluster, so that destroying or rebuilding the cluster does not try
        to delete each object first. That would fail once the cluster is gone, and a Helm release cannot be
        deleted from an unreachable cluster at all (pulumi-kubernetes issue 2675)."""
        kind = self.kind
        if kind is None:
            return pulumi.ResourceOptions(parent=parent, providers={"kubernetes": self.provider})

        return pulumi.ResourceOptions(
            parent=parent, providers={"kubernetes": self.provider}, transforms=[deleted_with(kind.owner)]
        )


def deleted_with(owner: pulumi.Resource) -> pulumi.ResourceTransform:
    """A transform that marks every Kubernetes object `deleted_with` the owner (`deleted_with` is not inherited).
    Engine-side `transforms`, not SDK-side `transformations`: the engine applies them to every descendant, the
    objects a remote component such as `yaml.v2.ConfigGroup` registers inside its provider included, which
    `transformations` never see (pulumi docs, "Transforms"; the Gateway API CRDs were missed that way)."""

    def transform(args: pulumi.ResourceTransformArgs) -> pulumi.ResourceTransformResult | None:
        if not args.type_.startswith("kubernetes:"):
            return None
        return pulumi.ResourceTransformResult(
            args.props, pulumi.ResourceOptions.merge(args.opts, pulumi.ResourceOptions(deleted_with=owner))
        )

    return transform
