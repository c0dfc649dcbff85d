"""Environment: one stack's whole pipeline, wired from validated settings."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.cluster import ClusterTarget, ClusterTargetArgs
from components.namespace import AppNamespace, AppNamespaceArgs
from components.settings import Settings, image_version
from components.workload import ServiceWorkload, ServiceWorkloadArgs, standard_labels


@dataclass(frozen=True)
class EnvironmentArgs:
    settings: Settings
    """Validated stack settings."""


class Environment(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    url: pulumi.Output[str]
    image: pulumi.Output[str]
    kube_context: pulumi.Output[str]
    debug_commands: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:Environment", name, None, opts)
        s = args.settings

        cluster = ClusterTarget(
            f"{name}-cluster",
            ClusterTargetArgs(kubeconfig=s.kubeconfig or None, context=s.kube_context),
            opts=pulumi.ResourceOptions(parent=self),
        )
        k8s_opts = pulumi.ResourceOptions(parent=self, providers={"kubernetes": cluster.provider})

        version = image_version(s.image_ref)
        namespace = AppNamespace(
            f"{name}-namespace",
            AppNamespaceArgs(
                name=s.namespace,
                labels=standard_labels(s, version),
                kubernetes_version=s.kubernetes_version,
            ),
            opts=k8s_opts,
        )

        image = pulumi.Output.from_input(s.image_ref)
        workload = ServiceWorkload(
            f"{name}-workload",
            ServiceWorkloadArgs(settings=s, namespace=namespace.name, image=image, version=version),
            opts=k8s_opts,
        )

        self.namespace = workload.namespace
        self.url = pulumi.Output.from_input(s.url)
        self.image = image
        self.kube_context = cluster.kube_context
        self.debug_commands = pulumi.Output.all(cluster.kube_context, workload.namespace).apply(
            lambda values: debug_commands(s, values[0], values[1])
        )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "url": self.url,
                "image": self.image,
                "kube_context": self.kube_context,
                "debug_commands": self.debug_commands,
            }
        )


def debug_commands(s: Settings, context: str, namespace: str) -> dict[str, str]:
    """The seed's layer-by-layer debugging order, filled in for this stack."""
    kubectl = f"kubectl --context {context} -n {namespace}"
    selector = f"app.kubernetes.io/instance=wal-service-{s.stack}"
    return {
        "1-pods": f"{kubectl} get pods -l {selector} -o wide && {kubectl} logs -l {selector} --tail=100",
        "2-service": f"{kubectl} port-forward svc/wal-service 8080:8080 & sleep 2; curl -fsS http://127.0.0.1:8080{s.health_path}",
        "3-ingress": (
            f"{kubectl} describe ingress wal-service-ingress && kubectl --context {context} "
            f"-n {s.ingress_controller_namespace} logs -l app.kubernetes.io/component=controller --tail=100"
        ),
        "4-dns": f"getent hosts {s.host} || echo '127.0.0.1 {s.host}' needs to be in /etc/hosts",
        "5-network": f"{kubectl} get networkpolicy -o wide",
    }
