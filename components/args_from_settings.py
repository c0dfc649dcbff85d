"""Settings -> each component's narrow args, for the Environment component to wire together.

No other component sees `Settings`: each shows in its args what it depends on, and a test can build it from
those alone. Besides mapping, a few functions fetch what an args field needs and the settings only name: a
secret (`load_secret`), the Gateway API CRD bundle. What cannot work is refused with a `pulumi.RunError` that
names the key and the fix.
"""

from __future__ import annotations

from pathlib import Path

import pulumi

from components import gateway_api_crds
from components.api_keys import ApiKey, ApiKeys, ApiKeysArgs
from components.app_config import AppConfig, Limits, Shutdown
from components.credentials import GENERATED_KEY_NAME, ApiKeyEntry, load_secret
from components.database import Connection, Database, DatabaseArgs, ExternalServer, InClusterServer, server_pod
from components.docker_host import DockerHost
from components.kind_cluster import KindClusterArgs
from components.labels import selector_labels, stable_labels
from components.monitoring import Monitoring
from components.pod_spec import Probes, Resources, SecretEnv, SecretFile
from components.quota import (
    NamespaceQuotaArgs,
    Requirements,
    StackPods,
    largest_limits,
    pod_footprint,
    quantity,
    quota_hard,
)
from components.routes import GatewayRoute, IngressRoute, Routing
from components.settings import Settings
from components.stack_config import PROJECT
from components.validators import amount
from components.workload import MAX_SURGE, Scaling, ServiceWorkloadArgs


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


def gateway_chart(s: Settings) -> str:
    """The NGINX Gateway Fabric chart: a repository URL as given, or a local chart that must be one."""
    if "://" in s.gateway_chart:
        return s.gateway_chart
    path = Path(s.gateway_chart)
    if path.is_dir() and (path / "Chart.yaml").is_file():
        return s.gateway_chart
    if path.is_file() and path.name.endswith((".tgz", ".tar.gz")):
        return s.gateway_chart
    raise pulumi.RunError(
        f"{PROJECT}:gatewayChart: {s.gateway_chart} is neither a chart directory (with a Chart.yaml) nor a chart "
        f"archive (.tgz), nor a repository URL such as oci://ghcr.io/nginx/charts/nginx-gateway-fabric"
    )


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
    image: pulumi.Input[str],
    version: str,
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
        image=image,
        version=version,
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
