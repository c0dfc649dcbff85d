"""Environment: one stack's whole pipeline, wired from validated settings.

The only component that reads `Settings`: it maps them onto each component's narrow args,
so every other component shows in its args what it depends on.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from components import docker_host as docker_daemon
from components import gateway_api_crds
from components.api_keys import ApiKey, ApiKeys, ApiKeysArgs
from components.app_config import AppConfig, Limits, Shutdown
from components.cluster import ClusterTarget, ClusterTargetArgs
from components.crd_check import CrdCheck, CrdCheckArgs
from components.database import Connection, Database, DatabaseArgs, ExternalServer, InClusterServer, server_pod
from components.docker_host import DockerHost
from components.gateway import ServiceGateway, ServiceGatewayArgs
from components.gateway_controller import GatewayController, GatewayControllerArgs
from components.host_claim import HostClaimCheck, HostClaimCheckArgs, KubectlTarget
from components.hpa_handover import HpaHandover, HpaHandoverArgs
from components.image import ServiceImage, ServiceImageArgs, source_revision
from components.kind_cluster import KindClusterArgs
from components.labels import APP_NAME, instance_name, namespace_labels, selector_labels, stable_labels, standard_labels
from components.metrics_server import MetricsServer, MetricsServerArgs
from components.monitoring import Monitoring
from components.namespace import AppNamespace, AppNamespaceArgs
from components.pod_spec import Probes, Resources, SecretEnv, SecretFile
from components.pull_check import PullCheck, PullCheckArgs
from components.pull_secret import ImagePullSecret, ImagePullSecretArgs
from components.quota import (
    NamespaceQuota,
    NamespaceQuotaArgs,
    Requirements,
    StackPods,
    largest_limits,
    pod_footprint,
    quantity,
    quota_hard,
)
from components.registry import REGISTRY_PORT, LocalRegistry, LocalRegistryArgs
from components.routes import GatewayRoute, IngressRoute, Routing
from components.settings import (
    GENERATED_KEY_NAME,
    ApiKeyEntry,
    Settings,
    amount,
    image_digest,
    image_version,
    load_api_keys,
    load_secret,
)
from components.stack_config import PROJECT
from components.workload import MAX_SURGE, Scaling, ServiceWorkload, ServiceWorkloadArgs


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
                image,
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
        if registry is not None and cluster.kind is not None:
            built = ServiceImage(
                f"{name}-image",
                ServiceImageArgs(push_host=registry.push_host, pull_host=registry.pull_host, revision=version),
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


SERVICE_MONITOR_CRD = "servicemonitors.monitoring.coreos.com"


def stack_pods(s: Settings) -> StackPods:
    """Every pod of the stack at its worst moment: the most service pods plus the rollout surge, and the
    in-cluster database (a StatefulSet of one replaces its pod, it never surges). The most service pods is
    the larger of replicas and maxReplicas in either mode: switching autoscaling off (or on) rolls the pods
    while the Deployment still runs the other mode's count, and a quota already shrunk to the new mode's
    refuses the rollout's pods (seen on the real engine: `pulumi up` waited on "exceeded quota")."""
    others = {}
    if s.database_mode == "in-cluster":
        containers, init_containers = server_pod()
        others["database"] = pod_footprint(containers, init_containers)
    return StackPods(
        service=pod_footprint([resources(s).requirements]),
        service_pods=most_service_pods(s)[1] + MAX_SURGE,
        others=others,
    )


def most_service_pods(s: Settings) -> tuple[str, int]:
    """The key that sets the most service pods the namespace may hold outside a rollout, and that count."""
    return ("maxReplicas", s.max_replicas) if s.max_replicas >= s.replicas else ("replicas", s.replicas)


def quota_hard_for(s: Settings) -> dict[str, str]:
    """The ResourceQuota's hard limits; a configured budget below the stack's need is refused in one line."""
    need = stack_pods(s)
    total = need.total
    scale_key, scale = most_service_pods(s)
    problems = []
    for res, key, cap, limit_key, limit in (
        ("cpu", "quotaCpu", s.quota_cpu, "cpuLimit", s.cpu_limit),
        ("memory", "quotaMemory", s.quota_memory, "memoryLimit", s.memory_limit),
    ):
        needed = total[f"limits.{res}"]
        if not cap or amount(cap) >= needed:
            continue
        parts = [
            f"{need.service_pods} service pods ({scale_key} {scale} + rollout surge {MAX_SURGE}) x {limit_key} {limit}"
        ]
        parts += [
            f"{other} pod {quantity(res, footprint[f'limits.{res}'])} (the larger of its containers' sum and its "
            "init container)"
            for other, footprint in need.others.items()
        ]
        problems.append(
            f"{PROJECT}:{key} {cap!r} is below what the stack needs at its worst moment, every pod at its limits: "
            f"limits.{res} {quantity(res, needed)} = {' + '.join(parts)}; set {key} to at least "
            f"{quantity(res, needed)}, unset it (the need plus quotaHeadroomPercent {s.quota_headroom_percent}%), "
            f"or lower {scale_key} or {limit_key}"
        )
    if problems:
        raise pulumi.RunError("; ".join(problems))
    return quota_hard(need, s.quota_headroom_percent, {"cpu": s.quota_cpu, "memory": s.quota_memory})


def quota_args(
    s: Settings, hard: dict[str, str], namespace: pulumi.Input[str], labels: dict[str, str]
) -> NamespaceQuotaArgs:
    service = resources(s).requirements
    containers: list[Requirements] = [service]
    if s.database_mode == "in-cluster":
        server, init_containers = server_pod()
        containers += [*server, *init_containers]
    return NamespaceQuotaArgs(
        namespace=namespace,
        labels=labels,
        hard=hard,
        container_default=service,
        container_max=largest_limits(containers),
    )


def resources(s: Settings) -> Resources:
    return Resources(
        cpu_request=s.cpu_request,
        cpu_limit=s.cpu_limit,
        memory_request=s.memory_request,
        memory_limit=s.memory_limit,
        ephemeral_storage_request=s.ephemeral_storage_request,
        ephemeral_storage_limit=s.ephemeral_storage_limit,
    )


def gateway_api_crd_files(s: Settings) -> list[str]:
    """The Gateway API CRDs the stack's controller needs, fetched and checked once (then cached)."""
    try:
        return [str(path) for path in gateway_api_crds.standard_channel(s.gateway_api_crds)]
    except gateway_api_crds.BundleError as exc:
        raise pulumi.RunError(
            f"{PROJECT}:gatewayApiCrds: {exc}. Where this machine cannot reach it, download that zip elsewhere and "
            f"run: pulumi config set {PROJECT}:gatewayApiCrds <path of the zip> -s {s.stack}"
        ) from None


def uses_docker(s: Settings) -> bool:
    """A kind cluster, or an image to build and push: what needs a Docker daemon."""
    return s.cluster_mode == "kind" or not s.image_ref


def kind_args(s: Settings, docker_host: DockerHost | None) -> KindClusterArgs | None:
    """The kind cluster to create, or None for an existing cluster."""
    if s.cluster_mode != "kind":
        return None
    if docker_host is None or not docker_host.cgroup_version:
        pulumi.log.warn(
            "the Docker daemon did not say its cgroup version (`docker info` failed); the kind config assumes "
            "cgroup v2. Start Docker before `pulumi up`: on a cgroup v1 host the nodes' kubelet would not start"
        )
    return KindClusterArgs(
        cluster_name=s.kind_cluster_name,
        node_image=s.kind_node_image,
        workers=s.kind_workers,
        http_port=s.ingress_http_port,
        https_port=s.ingress_https_port if s.https_listener else None,
        kubeconfig_path=s.kubeconfig_file,
        cgroup_v1=docker_host is not None and docker_host.cgroup_v1,
    )


def registry_credential(s: Settings) -> pulumi.Output[str] | None:
    """The external registry's password, read once for the push and the pods' pull secret."""
    if s.registry_mode != "external" or not s.registry_username:
        return None
    password = load_secret("registryPassword")
    if password is None:
        raise pulumi.RunError(
            f"{PROJECT}:registryPassword is not set but registryUsername is, so neither the push nor the pods' "
            f"pull could log in; run: pulumi config set --secret {PROJECT}:registryPassword <token> -s {s.stack}"
        )
    return password


def database_args(s: Settings, namespace: pulumi.Input[str], instance: str, labels: dict[str, str]) -> DatabaseArgs:
    return DatabaseArgs(
        namespace=namespace,
        instance=f"{instance}-database",
        labels=labels,
        client_selector=selector_labels(instance),
        connection=Connection(name=s.database_name, user=s.database_user, ssl_mode=s.database_ssl_mode),
        server=database_server(s),
    )


def database_server(s: Settings) -> InClusterServer | ExternalServer:
    if s.database_mode == "in-cluster":
        return InClusterServer(
            image=s.database_image, storage_size=s.database_storage_size, retain_on_delete=s.database_retain_on_delete
        )
    password = load_secret("databasePassword")
    if password is None:
        raise pulumi.RunError(
            f"{PROJECT}:databasePassword is not set but databaseMode is external, so the service could not log "
            f"in; run: pulumi config set --secret {PROJECT}:databasePassword <password> -s {s.stack}"
        )
    return ExternalServer(host=s.database_host, port=s.database_port, cidr=s.database_cidr, password=password)


def api_keys_args(
    s: Settings, configured: list[ApiKeyEntry], namespace: pulumi.Input[str], instance: str
) -> ApiKeysArgs:
    return ApiKeysArgs(
        namespace=namespace,
        # Keys change on their own schedule, not with releases: no version label.
        labels=stable_labels(instance, "api"),
        keys=[ApiKey(entry.name, entry.role, pulumi.Output.secret(entry.token)) for entry in configured],
        generated_name=GENERATED_KEY_NAME if s.generate_api_key else "",
    )


def workload_args(
    s: Settings,
    instance: str,
    namespace: pulumi.Input[str],
    image: DeployedImage,
    database: Database,
    api_keys: ApiKeys,
    pull_secret: pulumi.Input[str] | None,
    route_ready: list[pulumi.Resource],
    monitoring: Monitoring,
    deployment_depends_on: list[pulumi.Resource],
) -> ServiceWorkloadArgs:
    return ServiceWorkloadArgs(
        instance=instance,
        namespace=namespace,
        image=image.ref,
        version=image.version,
        config=AppConfig(app_env=s.app_env, log_level=s.log_level, feature_flags=pairs(s.feature_flags)),
        limits=Limits(
            max_body_bytes=s.max_body_bytes,
            max_json_depth=s.max_json_depth,
            max_header_bytes=s.max_header_bytes,
            max_inflight_bytes=s.max_inflight_bytes,
            max_connections=s.max_connections,
            header_read_timeout_seconds=s.header_read_timeout_seconds,
            body_read_timeout_seconds=s.body_read_timeout_seconds,
        ),
        scaling=Scaling(
            replicas=s.replicas,
            autoscaling=s.autoscaling,
            min_replicas=s.min_replicas,
            max_replicas=s.max_replicas,
            target_cpu_utilization=s.target_cpu_utilization,
        ),
        resources=resources(s),
        probes=Probes(
            health_path=s.health_path, ready_path=s.ready_path, startup_budget_seconds=s.startup_budget_seconds
        ),
        shutdown=Shutdown(
            pre_stop_seconds=s.pre_stop_seconds,
            drain_seconds=s.drain_seconds,
            shutdown_timeout_seconds=s.shutdown_timeout_seconds,
            termination_grace_period_seconds=s.termination_grace_period_seconds,
        ),
        routing=Routing(host=s.host, via=route_via(s)),
        extra_config=database.config,
        secret_env={
            "DATABASE_PASSWORD": SecretEnv(
                database.password_secret_name, database.password_secret_key, database.password_checksum
            )
        },
        secret_files={"API_KEYS_FILE": SecretFile(api_keys.secret_name, api_keys.file_key, api_keys.checksum)},
        egress_policies=[database.egress_rule],
        image_pull_secret=pull_secret,
        route_depends_on=route_ready,
        monitoring=monitoring,
        deployment_depends_on=deployment_depends_on,
    )


def route_via(s: Settings) -> GatewayRoute | IngressRoute:
    if s.routing == "gateway":
        return GatewayRoute(gateway_namespace=s.gateway_namespace, gateway_name=s.gateway_name)
    return IngressRoute(
        class_name=s.ingress_class_name,
        controller_namespace=s.ingress_controller_namespace,
        tls_secret_name=s.tls_secret_name,
        annotations=pairs(s.ingress_annotations),
    )


def pairs(entries: list[str]) -> dict[str, str]:
    """NAME=value config entries as a mapping."""
    return dict(entry.split("=", 1) for entry in entries)


def recovery_commands(
    stack: str, cluster: ClusterTarget, registry: LocalRegistry | None
) -> pulumi.Output[dict[str, str]]:
    """What rebuilds a lost kind cluster or a node's lost hosts.toml. `pulumi refresh` cannot: a local.Command
    has no Read, so only replacing the command that made the thing runs it again."""
    steps: dict[str, pulumi.Output[str]] = {}
    if cluster.kind is not None:
        steps["rebuildCluster"] = cluster.kind.owner.urn
    if registry is not None:
        steps["rewriteNodeHosts"] = registry.hosts_urn
    if not steps:
        return pulumi.Output.from_input({})
    return pulumi.Output.all(**steps).apply(
        lambda urns: {key: f"pulumi up --replace '{urn}' --stack {stack}" for key, urn in urns.items()}
    )


def debug_commands(s: Settings, namespace: str) -> dict[str, str]:
    """Debugging layer by layer (pods, service, route, DNS, network), filled in for this stack."""
    kubectl = f"{s.kubectl} -n {namespace}"
    selector = f"app.kubernetes.io/instance={instance_name(s.stack)}"
    return {
        "1-pods": f"{kubectl} get pods -l {selector} -o wide && {kubectl} logs -l {selector} --tail=100",
        "2-service": f"{kubectl} port-forward svc/wal-service 8080:8080 & sleep 2; curl -fsS http://127.0.0.1:8080{s.health_path}",
        "3-route": route_debug(s, kubectl),
        "4-dns": f"getent hosts {s.host} || echo '127.0.0.1 {s.host}' needs to be in /etc/hosts",
        "5-network": f"{kubectl} get networkpolicy -o wide",
    }


def route_debug(s: Settings, kubectl: str) -> str:
    """The route, then what serves it: the Gateway and its data plane's logs, or the ingress controller's."""
    if s.routing == "gateway":
        gateway = f"{s.kubectl} -n {s.gateway_namespace}"
        return (
            f"{kubectl} describe httproute wal-service && {gateway} describe gateway {s.gateway_name} && "
            f"{gateway} logs -l gateway.networking.k8s.io/gateway-name={s.gateway_name} --tail=100"
        )
    return (
        f"{kubectl} describe ingress wal-service-ingress && {s.kubectl} "
        f"-n {s.ingress_controller_namespace} logs -l app.kubernetes.io/component=controller --tail=100"
    )
