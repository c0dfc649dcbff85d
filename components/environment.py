"""Environment: one stack's whole pipeline, wired from validated settings.

The only component that takes `Settings`: args_from_settings.py maps them onto each component's narrow args,
so every other component shows in its args what it depends on. What stays here is the wiring: which
components a stack gets, in what order, and the seams where a stack's choice decides how (_image, _routing,
_monitoring).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components import docker_host as docker_daemon
from components import gateway_api_crds
from components.api_keys import ApiKeys
from components.args_from_settings import (
    api_keys_args,
    database_args,
    gateway_api_crd_files,
    gateway_chart,
    kind_args,
    pairs,
    quota_args,
    quota_hard_for,
    registry_credential,
    workload_args,
)
from components.cluster import ClusterTarget, ClusterTargetArgs
from components.crd_check import CrdCheck, CrdCheckArgs
from components.credentials import load_api_keys
from components.database import Database
from components.gateway import ServiceGateway, ServiceGatewayArgs
from components.gateway_controller import GatewayController, GatewayControllerArgs
from components.host_claim import HostClaimCheck, HostClaimCheckArgs, KubectlTarget
from components.hpa_handover import HpaHandover, HpaHandoverArgs
from components.image import BuildInputs, ServiceImage, ServiceImageArgs, source_revision
from components.image_ref import image_digest, image_version
from components.labels import APP_NAME, instance_name, namespace_labels, stable_labels, standard_labels
from components.metrics_server import MetricsServer, MetricsServerArgs
from components.monitoring import SERVICE_MONITOR_CRD, Monitoring
from components.namespace import AppNamespace, AppNamespaceArgs
from components.operator_commands import debug_commands, recovery_commands
from components.pull_check import PullCheck, PullCheckArgs
from components.pull_secret import ImagePullSecret, ImagePullSecretArgs
from components.quota import NamespaceQuota
from components.registry import REGISTRY_PORT, LocalRegistry, LocalRegistryArgs
from components.settings import Settings
from components.stack_config import PROJECT
from components.workload import ServiceWorkload


@dataclass(frozen=True)
class EnvironmentArgs:
    settings: Settings
    """Validated stack settings."""


@dataclass(frozen=True)
class DeployedImage:
    """What the image seam decided: the reference the pods run, its digest and the version label."""

    ref: pulumi.Output[str]
    """Digest-pinned reference at the address the cluster pulls from (or the given imageRef)."""
    digest: pulumi.Output[str]
    """sha256:... of the image ("" for a tag-only imageRef)."""
    version: str
    """app.kubernetes.io/version: the source revision, or the imageRef's tag or short digest."""


class Environment(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    url: pulumi.Output[str]
    image: pulumi.Output[str]
    image_digest: pulumi.Output[str]
    revision: pulumi.Output[str]
    kube_context: pulumi.Output[str]
    debug_commands: pulumi.Output[dict[str, str]]
    recovery_commands: pulumi.Output[dict[str, str]]
    api_token: pulumi.Output[str] | None
    api_keys: pulumi.Output[list[str]]

    def __init__(self, name: str, args: EnvironmentArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        s = args.settings
        # A quota the stack cannot fit in is a config error like any other: refused before anything registers.
        quota = quota_hard_for(s) if s.resource_quota else None
        configured_keys = load_api_keys(s)
        super().__init__("wal:platform:Environment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        docker_host = docker_daemon.probe() if uses_docker(s) else None

        cluster = ClusterTarget(
            f"{name}-cluster",
            ClusterTargetArgs(kind=kind_args(s, docker_host), kubeconfig=s.kubeconfig, context=s.kube_context),
            opts=child,
        )
        k8s_opts = cluster.options(parent=self)
        # Every docker resource goes to the daemon the docker CLI (and so kind) uses; Pulumi.yaml disables the
        # default docker provider, so none can slip past this one.
        docker_opts = pulumi.ResourceOptions(parent=self)
        if docker_host is not None:
            provider = docker.Provider(f"{name}-docker", host=docker_host.endpoint or None, opts=child)
            docker_opts = pulumi.ResourceOptions(parent=self, providers={"docker": provider})
            k8s_opts = pulumi.ResourceOptions.merge(k8s_opts, pulumi.ResourceOptions(providers={"docker": provider}))
        registry = None
        if s.registry_mode == "local" and cluster.kind is not None:
            registry = LocalRegistry(
                f"{name}-registry",
                LocalRegistryArgs(
                    container_name=s.registry_name,
                    host_port=s.registry_port,
                    image=s.registry_image,
                    cluster_name=cluster.kind.cluster_name,
                    cluster_id=cluster.kind.cluster_id,
                    daemon_is_local=docker_daemon.is_local(docker_host),
                ),
                # Its KEP-1755 ConfigMap goes to the stack's cluster, like every Kubernetes resource.
                opts=k8s_opts,
            )
        registry_password = registry_credential(s)
        image = self._image(name, s, cluster, registry, registry_password, docker_opts)

        instance = instance_name(s.stack)
        labels = standard_labels(instance, image.version)
        namespace = AppNamespace(
            f"{name}-namespace",
            AppNamespaceArgs(
                name=s.namespace,
                labels=namespace_labels(instance),
                kubernetes_version=s.kubernetes_version,
                # Deleting the namespace would delete the retained database claim with it.
                retain_on_delete=s.database_mode == "in-cluster" and s.database_retain_on_delete,
            ),
            opts=k8s_opts,
        )
        # Pods are created only once the quota and its LimitRange exist, so both apply to every one of them.
        app_namespace = namespace.name
        if quota is not None:
            app_namespace = NamespaceQuota(
                f"{name}-quota", quota_args(s, quota, namespace.name, namespace_labels(instance)), opts=k8s_opts
            ).namespace
        database = Database(f"{name}-database", database_args(s, app_namespace, instance, labels), opts=k8s_opts)
        api_keys = ApiKeys(
            f"{name}-api-keys", api_keys_args(s, configured_keys, app_namespace, instance), opts=k8s_opts
        )
        pull_secret: pulumi.Output[str] | None = None
        if registry_password is not None:
            pull_secret = ImagePullSecret(
                f"{name}-pull-secret",
                ImagePullSecretArgs(
                    namespace=app_namespace,
                    server=s.registry_server,
                    username=s.registry_username,
                    password=registry_password,
                    labels=namespace_labels(instance),
                ),
                opts=k8s_opts,
            ).name
        # What the platform's kubectl commands (checks, the HPA handover) are aimed at.
        kubectl = KubectlTarget(cluster.kube_context, cluster.kubeconfig, s.kubeconfig_file)
        route_ready = self._routing(name, s, kubectl, namespace, instance, k8s_opts)
        if s.autoscaling and cluster.kind is not None:
            # kind has no metrics-server: without one the HPA sees `<unknown>` and never scales.
            MetricsServer(f"{name}-metrics-server", MetricsServerArgs(), opts=k8s_opts)
        handover = HpaHandover(
            f"{name}-hpa-handover",
            HpaHandoverArgs(
                namespace=app_namespace,
                name=APP_NAME,
                autoscaling=s.autoscaling,
                cluster=kubectl,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        workload = ServiceWorkload(
            f"{name}-workload",
            workload_args(
                s,
                instance,
                app_namespace,
                image.ref,
                image.version,
                database,
                api_keys,
                pull_secret,
                route_ready,
                self._monitoring(name, s, kubectl),
                [handover],
            ),
            opts=k8s_opts,
        )

        self.namespace = workload.namespace
        self.url = pulumi.Output.from_input(s.url)
        self.image = image.ref
        self.image_digest = image.digest
        self.revision = pulumi.Output.from_input(image.version)
        self.kube_context = cluster.kube_context
        self.debug_commands = workload.namespace.apply(lambda namespace: debug_commands(s, namespace))
        self.recovery_commands = recovery_commands(s.stack, cluster, registry)
        self.api_token = api_keys.token
        self.api_keys = pulumi.Output.from_input(api_keys.names)
        self.register_outputs(
            {
                "api_token": self.api_token,
                "api_keys": self.api_keys,
                "recovery_commands": self.recovery_commands,
                "namespace": self.namespace,
                "url": self.url,
                "image": self.image,
                "image_digest": self.image_digest,
                "revision": self.revision,
                "kube_context": self.kube_context,
                "debug_commands": self.debug_commands,
            }
        )

    def _image(
        self,
        name: str,
        s: Settings,
        cluster: ClusterTarget,
        registry: LocalRegistry | None,
        registry_password: pulumi.Output[str] | None,
        docker_opts: pulumi.ResourceOptions,
    ) -> DeployedImage:
        """The image seam: a given reference (promotion, rollback), or a fresh build of app/ pushed to the
        local registry (and pulled by every node first) or to an external one."""
        if s.image_ref:
            return DeployedImage(
                ref=pulumi.Output.from_input(s.image_ref),
                digest=pulumi.Output.from_input(image_digest(s.image_ref)),
                version=image_version(s.image_ref),
            )
        child = docker_opts
        version = source_revision()
        inputs = BuildInputs(
            python_image=s.python_image, pip_index_url=s.pip_index_url, pip_extra_ca_pem=s.pip_extra_ca_pem
        )
        if registry is not None and cluster.kind is not None:
            built = ServiceImage(
                f"{name}-image",
                ServiceImageArgs(
                    push_host=registry.push_host, pull_host=registry.pull_host, revision=version, inputs=inputs
                ),
                opts=child,
            )
            checked = PullCheck(
                f"{name}-pull-check",
                PullCheckArgs(
                    cluster_name=cluster.kind.cluster_name,
                    cluster_id=cluster.kind.cluster_id,
                    cluster_urn=cluster.kind.owner.urn,
                    hosts_urn=registry.hosts_urn,
                    registry_name=s.registry_name,
                    pull_host=f"{s.registry_name}:{REGISTRY_PORT}",
                    push_port=s.registry_port,
                    image=built.pull_ref,
                    ready=registry.nodes_configured,
                ),
                opts=child,
            )
            return DeployedImage(ref=checked.image, digest=built.digest, version=version)
        built = ServiceImage(
            f"{name}-image",
            ServiceImageArgs(
                push_host=s.registry_server,
                pull_host=s.registry_server,
                revision=version,
                registry=docker.RegistryArgs(
                    server=s.registry_server, username=s.registry_username or None, password=registry_password
                ),
                inputs=inputs,
            ),
            opts=child,
        )
        return DeployedImage(ref=built.pull_ref, digest=built.digest, version=version)

    def _routing(
        self,
        name: str,
        s: Settings,
        kubectl: KubectlTarget,
        namespace: AppNamespace,
        instance: str,
        k8s_opts: pulumi.ResourceOptions,
    ) -> list[pulumi.Resource]:
        """The routing seam: what must be ready before our route is created. A kind stack installs the
        Gateway API CRDs and its controller; any gateway stack that names a GatewayClass gets its own Gateway."""
        controller: list[pulumi.Resource] = []
        if s.routing == "gateway" and s.cluster_mode == "kind":
            controller.append(
                GatewayController(
                    f"{name}-gateway-controller",
                    GatewayControllerArgs(
                        namespace=s.gateway_namespace,
                        gateway_class=s.gateway_class_name,
                        https_listener=s.https_listener,
                        crd_files=gateway_api_crd_files(s),
                        chart=gateway_chart(s),
                    ),
                    opts=k8s_opts,
                )
            )
        # Runs against the live cluster once the controller (if ours) is up, before anything routes the host.
        check = HostClaimCheck(
            f"{name}-host-claim",
            HostClaimCheckArgs(
                host=s.host,
                instance=instance,
                routing=s.routing,
                cluster=kubectl,
                gateway_class=s.gateway_class_name if s.routing == "gateway" else "",
                gateway_namespace=s.gateway_namespace if s.routing == "gateway" else "",
                gateway_name=s.gateway_name if s.routing == "gateway" else "",
                gateway_api_version=gateway_api_crds.VERSION,
                after=controller,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        if s.routing != "gateway" or not s.gateway_class_name:
            return [check]
        gateway = ServiceGateway(
            f"{name}-gateway",
            ServiceGatewayArgs(
                name=s.gateway_name,
                namespace=s.gateway_namespace,
                gateway_class=s.gateway_class_name,
                host=s.host,
                route_namespace=namespace.name,
                # The Gateway (and its TLS grant) outlive any release of the service: no version label.
                labels=stable_labels(instance, "gateway"),
                tls_secret_name=s.tls_secret_name,
                depends_on=[check],
            ),
            opts=k8s_opts,
        )
        return [check, gateway]

    def _monitoring(self, name: str, s: Settings, kubectl: KubectlTarget) -> Monitoring:
        """How Prometheus finds the metrics; a ServiceMonitor waits for the check that its CRD exists."""
        ready: list[pulumi.Resource] = []
        if s.monitoring == "servicemonitor":
            ready.append(
                CrdCheck(
                    f"{name}-servicemonitor-crd",
                    CrdCheckArgs(
                        crd=SERVICE_MONITOR_CRD,
                        kind="ServiceMonitor",
                        fix=(
                            "install the Prometheus Operator (https://prometheus-operator.dev/docs/getting-started/"
                            f"installation/), or run: pulumi config set {PROJECT}:monitoring annotations -s {s.stack}"
                        ),
                        cluster=kubectl,
                    ),
                    opts=pulumi.ResourceOptions(parent=self),
                )
            )
        return Monitoring(
            mode=s.monitoring,
            scraper_namespace=s.monitoring_namespace,
            service_monitor_labels=pairs(s.service_monitor_labels),
            ready=ready,
        )


def uses_docker(s: Settings) -> bool:
    """A kind cluster, or an image to build and push: what needs a Docker daemon."""
    return s.cluster_mode == "kind" or not s.image_ref
