"""Environment: one stack's whole pipeline, wired from validated settings."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components.cluster import ClusterTarget, ClusterTargetArgs
from components.database import Database, DatabaseArgs
from components.host_claim import HostClaimCheck, HostClaimCheckArgs
from components.image import ServiceImage, ServiceImageArgs, source_revision
from components.ingress_controller import IngressController, IngressControllerArgs
from components.kind_cluster import KindClusterArgs
from components.namespace import AppNamespace, AppNamespaceArgs
from components.pull_check import PullCheck, PullCheckArgs
from components.pull_secret import ImagePullSecret, ImagePullSecretArgs
from components.registry import REGISTRY_PORT, LocalRegistry, LocalRegistryArgs
from components.settings import Settings, image_digest, image_version, load_secret
from components.workload import ServiceWorkload, ServiceWorkloadArgs, selector_labels, standard_labels


@dataclass(frozen=True)
class EnvironmentArgs:
    settings: Settings
    """Validated stack settings."""


class Environment(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    url: pulumi.Output[str]
    image: pulumi.Output[str]
    image_digest: pulumi.Output[str]
    revision: pulumi.Output[str]
    kube_context: pulumi.Output[str]
    debug_commands: pulumi.Output[dict[str, str]]

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:Environment", name, None, opts)
        s = args.settings

        child = pulumi.ResourceOptions(parent=self)
        kind = (
            KindClusterArgs(
                cluster_name=s.kind_cluster_name,
                node_image=s.kind_node_image,
                workers=s.kind_workers,
                http_port=s.ingress_http_port,
                https_port=s.ingress_https_port,
            )
            if s.cluster_mode == "kind"
            else None
        )
        cluster = ClusterTarget(
            f"{name}-cluster",
            ClusterTargetArgs(kind=kind, kubeconfig=s.kubeconfig or None, context=s.kube_context),
            opts=child,
        )
        k8s_opts = pulumi.ResourceOptions(parent=self, providers={"kubernetes": cluster.provider})

        registry = None
        if s.registry_mode == "local" and cluster.kind_cluster_name is not None:
            registry = LocalRegistry(
                f"{name}-registry",
                LocalRegistryArgs(
                    container_name=s.registry_name,
                    host_port=s.registry_port,
                    image=s.registry_image,
                    cluster_name=cluster.kind_cluster_name,
                ),
                k8s_provider=cluster.provider,
                opts=child,
            )

        # One read of the registry credential serves the push and the pods' pull secret.
        registry_password = None
        if s.registry_mode == "external" and s.registry_username:
            registry_password = load_secret("registryPassword")
            if registry_password is None:
                raise pulumi.RunError(
                    f"wal-service:registryPassword is not set but registryUsername is; run: "
                    f"pulumi config set --secret wal-service:registryPassword <token> -s {s.stack}"
                )

        # Image seam: a given reference (promotion, rollback) or a fresh build of app/.
        image: pulumi.Output[str]
        if s.image_ref:
            version = image_version(s.image_ref)
            image = pulumi.Output.from_input(s.image_ref)
            digest = pulumi.Output.from_input(image_digest(s.image_ref))
        else:
            version = source_revision()
            if registry is not None and cluster.kind_cluster_name is not None:
                built = ServiceImage(
                    f"{name}-image",
                    ServiceImageArgs(push_host=registry.push_host, pull_host=registry.pull_host, revision=version),
                    opts=child,
                )
                image = PullCheck(
                    f"{name}-pull-check",
                    PullCheckArgs(
                        cluster_name=cluster.kind_cluster_name,
                        registry_name=s.registry_name,
                        pull_host=f"{s.registry_name}:{REGISTRY_PORT}",
                        push_port=s.registry_port,
                        image=built.pull_ref,
                        ready=registry.nodes_configured,
                    ),
                    opts=child,
                ).image
            else:
                built = ServiceImage(
                    f"{name}-image",
                    ServiceImageArgs(
                        push_host=s.registry_server,
                        pull_host=s.registry_server,
                        revision=version,
                        registry=docker.RegistryArgs(
                            server=s.registry_server, username=s.registry_username or None, password=registry_password
                        ),
                    ),
                    opts=child,
                )
                image = built.pull_ref
            digest = built.digest

        labels = standard_labels(s, version)
        namespace = AppNamespace(
            f"{name}-namespace",
            AppNamespaceArgs(
                name=s.namespace,
                labels=labels,
                kubernetes_version=s.kubernetes_version,
                # Deleting the namespace would delete the retained database claim with it.
                retain_on_delete=s.database_mode == "in-cluster" and s.database_retain_on_delete,
            ),
            opts=k8s_opts,
        )

        database = Database(
            f"{name}-database",
            DatabaseArgs(
                settings=s,
                namespace=namespace.name,
                labels=labels,
                client_selector=selector_labels(s),
                password=load_secret("databasePassword") if s.database_mode == "external" else None,
            ),
            opts=k8s_opts,
        )

        pull_secret: pulumi.Output[str] | None = None
        if registry_password is not None:
            pull_secret = ImagePullSecret(
                f"{name}-pull-secret",
                ImagePullSecretArgs(
                    namespace=namespace.name,
                    server=s.registry_server,
                    username=s.registry_username,
                    password=registry_password,
                    labels=labels,
                ),
                opts=k8s_opts,
            ).name

        ingress_ready: list[pulumi.Resource] = []
        if s.ingress_controller == "ingress-nginx":
            ingress_ready.append(
                IngressController(
                    f"{name}-ingress-controller",
                    IngressControllerArgs(namespace=s.ingress_controller_namespace, ingress_class=s.ingress_class_name),
                    opts=k8s_opts,
                )
            )
        # Runs against the live cluster once it exists (and our namespace with it), before our Ingress.
        ingress_ready.append(
            HostClaimCheck(
                f"{name}-host-claim",
                HostClaimCheckArgs(
                    host=s.host,
                    namespace=namespace.name,
                    kube_context=cluster.kube_context,
                    kubeconfig=cluster.kubeconfig,
                    kubeconfig_path=s.kubeconfig,
                ),
                opts=child,
            )
        )

        workload = ServiceWorkload(
            f"{name}-workload",
            ServiceWorkloadArgs(
                settings=s,
                namespace=namespace.name,
                image=image,
                version=version,
                extra_config=database.config,
                secret_env={"DATABASE_PASSWORD": (database.password_secret_name, database.password_secret_key)},
                egress_policies=[database.egress_rule],
                image_pull_secret=pull_secret,
                ingress_depends_on=ingress_ready,
            ),
            opts=k8s_opts,
        )

        self.namespace = workload.namespace
        self.url = pulumi.Output.from_input(s.url)
        self.image = image
        self.image_digest = digest
        self.revision = pulumi.Output.from_input(version)
        self.kube_context = cluster.kube_context
        self.debug_commands = pulumi.Output.all(cluster.kube_context, workload.namespace).apply(
            lambda values: debug_commands(s, values[0], values[1])
        )
        self.register_outputs(
            {
                "namespace": self.namespace,
                "url": self.url,
                "image": self.image,
                "image_digest": self.image_digest,
                "revision": self.revision,
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
