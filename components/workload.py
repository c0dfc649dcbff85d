"""ServiceWorkload: everything the WAL service needs inside one namespace."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
from pulumi_kubernetes.apps.v1 import DeploymentSpecArgs, DeploymentStrategyArgs, RollingUpdateDeploymentArgs
from pulumi_kubernetes.autoscaling.v2 import (
    CrossVersionObjectReferenceArgs,
    HorizontalPodAutoscalerSpecArgs,
    MetricSpecArgs,
    MetricTargetArgs,
    ResourceMetricSourceArgs,
)
from pulumi_kubernetes.core.v1 import (
    ConfigMapEnvSourceArgs,
    ContainerArgs,
    ContainerPortArgs,
    EmptyDirVolumeSourceArgs,
    EnvFromSourceArgs,
    EnvVarArgs,
    HTTPGetActionArgs,
    KeyToPathArgs,
    LifecycleArgs,
    LifecycleHandlerArgs,
    LocalObjectReferenceArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    SecretVolumeSourceArgs,
    ServicePortArgs,
    ServiceSpecArgs,
    SleepActionArgs,
    TopologySpreadConstraintArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    HTTPIngressPathArgs,
    HTTPIngressRuleValueArgs,
    IngressBackendArgs,
    IngressRuleArgs,
    IngressServiceBackendArgs,
    IngressSpecArgs,
    IngressTLSArgs,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
    ServiceBackendPortArgs,
)
from pulumi_kubernetes.policy.v1 import PodDisruptionBudgetSpecArgs

from components.checksums import combine, config_checksum
from components.gateway import AWAIT_TIMEOUTS, GATEWAY_API
from components.ownership import owned
from components.quota import requirements_args
from components.security import restricted_container, restricted_pod
from components.stack_config import PROJECT

APP_NAME = PROJECT
HTTP_PORT = 8080
# The production image runs as this numeric UID/GID (app/Dockerfile).
APP_UID = 10001
STARTUP_PERIOD_SECONDS = 2
# GEP-1762: a Gateway's controller labels the data-plane pods it provisions with the Gateway's name.
GATEWAY_NAME_LABEL = "gateway.networking.k8s.io/gateway-name"


def route_ready(via: GatewayRoute) -> str:
    """The HTTPRoute's waitFor: `pulumi up` waits until the Gateway's controller accepted the route and resolved
    its backend. Route status is one entry per parent (and other controllers' parents may be listed too), so
    the JSONPath selects our Gateway's entry by name and namespace rather than whichever comes first
    (RFC 9535 filters, which pulumi-kubernetes' waitFor evaluates: pkg/jsonpath, pkg/metadata/overrides.go)."""
    parent = f'@.parentRef.name=="{via.gateway_name}" && @.parentRef.namespace=="{via.gateway_namespace}"'
    return json.dumps(
        [
            f'jsonpath={{.status.parents[?({parent})].conditions[?(@.type=="{condition}")].status}}=True'
            for condition in ("Accepted", "ResolvedRefs")
        ]
    )


# Pods a rollout may add above the desired count; the namespace quota must hold them too.
MAX_SURGE = 1
METRICS_PATH = "/metrics"
SCRAPE_INTERVAL = "30s"


@dataclass(frozen=True)
class AppConfig:
    """What the service reads from its ConfigMap, besides the shutdown timings and other components' entries."""

    app_env: str
    """APP_ENV: the environment the service reports (development, staging, production...)."""
    log_level: str
    """LOG_LEVEL: debug, info, warning or error."""
    feature_flags: Mapping[str, str] = field(default_factory=dict)
    """Extra environment-specific entries, NAME -> value (never one of the program's own keys)."""


@dataclass(frozen=True)
class Limits:
    """What the service accepts from one client and from all of them (its defences against hostile input)."""

    max_body_bytes: int
    """MAX_BODY_BYTES: the largest request body."""
    max_json_depth: int
    """MAX_JSON_DEPTH: the deepest nesting of a record."""
    max_header_bytes: int
    """MAX_HEADER_BYTES: the largest request head."""
    max_inflight_bytes: int
    """MAX_INFLIGHT_BYTES: request bodies held in memory at once, all connections together."""
    max_connections: int
    """MAX_CONNECTIONS: open client connections."""
    header_read_timeout_seconds: int
    """HEADER_READ_TIMEOUT_SECONDS: time allowed for a request head to arrive."""
    body_read_timeout_seconds: int
    """BODY_READ_TIMEOUT_SECONDS: time allowed for a request body to arrive."""


@dataclass(frozen=True)
class Scaling:
    """How many pods run: a fixed count, or an HPA's range."""

    replicas: int
    """Pod count when autoscaling is off."""
    autoscaling: bool
    """Create a HorizontalPodAutoscaler and leave spec.replicas to it."""
    min_replicas: int
    """Autoscaling: the fewest pods."""
    max_replicas: int
    """Autoscaling: the most pods."""
    target_cpu_utilization: int
    """Autoscaling: average CPU utilisation (percent of the request) to aim for."""

    @property
    def min_pods(self) -> int:
        """The fewest pods the workload may run with: decides the PDB and topology spread."""
        return self.min_replicas if self.autoscaling else self.replicas


@dataclass(frozen=True)
class Resources:
    """The container's requests and limits (Kubernetes quantities)."""

    cpu_request: str
    """CPU the scheduler reserves."""
    cpu_limit: str
    """CPU ceiling (at least the request)."""
    memory_request: str
    """Memory the scheduler reserves."""
    memory_limit: str
    """Memory ceiling (at least the request); beyond it the container is OOM-killed."""
    ephemeral_storage_request: str
    """Node disk the scheduler reserves for the container's logs, writable layer and /tmp."""
    ephemeral_storage_limit: str
    """Node disk ceiling (at least the request); beyond it the kubelet evicts the pod."""

    @property
    def requirements(self) -> dict[str, dict[str, str]]:
        """The container's `resources` field."""
        return {
            "requests": {
                "cpu": self.cpu_request,
                "memory": self.memory_request,
                "ephemeral-storage": self.ephemeral_storage_request,
            },
            "limits": {
                "cpu": self.cpu_limit,
                "memory": self.memory_limit,
                "ephemeral-storage": self.ephemeral_storage_limit,
            },
        }


@dataclass(frozen=True)
class Probes:
    """Where the probes poll and how long a start may take."""

    health_path: str
    """Liveness path, polled by the startup and liveness probes."""
    ready_path: str
    """Readiness path."""
    startup_budget_seconds: int
    """Longest start before the startup probe restarts the pod."""


@dataclass(frozen=True)
class Shutdown:
    """The graceful-shutdown timeline: preStop pause, drain, bounded in-flight requests, then the kubelet's kill."""

    pre_stop_seconds: int
    """Pause before SIGTERM so endpoint removal reaches every proxy (0: no preStop hook)."""
    drain_seconds: int
    """DRAIN_SECONDS: after SIGTERM the service reports not-ready but keeps serving this long."""
    shutdown_timeout_seconds: int
    """SHUTDOWN_TIMEOUT_SECONDS: bound for in-flight requests after draining."""
    termination_grace_period_seconds: int
    """Pod termination grace period; exceeds the three above together."""


@dataclass(frozen=True)
class GatewayRoute:
    """An HTTPRoute attached to a Gateway; the NetworkPolicy admits that Gateway's data-plane pods."""

    gateway_namespace: str
    """Namespace of the Gateway, where Gateway API puts the data-plane pods it provisions (GEP-1762)."""
    gateway_name: str
    """Name of the Gateway; its data-plane pods carry it in the gateway.networking.k8s.io/gateway-name label."""


@dataclass(frozen=True)
class IngressRoute:
    """An Ingress served by an IngressClass; the NetworkPolicy admits the controller's namespace."""

    class_name: str
    """IngressClass that serves the Ingress."""
    controller_namespace: str
    """Namespace of the ingress controller's pods: the only source the NetworkPolicy admits."""
    tls_secret_name: str = ""
    """Secret with the host's TLS certificate; empty serves plain HTTP."""
    annotations: Mapping[str, str] = field(default_factory=dict)
    """Extra Ingress annotations."""


@dataclass(frozen=True)
class Routing:
    """How traffic reaches the pods from outside the namespace."""

    host: str
    """Public host name: the route's only hostname."""
    via: GatewayRoute | IngressRoute
    """An HTTPRoute on a Gateway, or an Ingress."""


@dataclass(frozen=True)
class Monitoring:
    """How Prometheus finds the service's /metrics (served on the HTTP port)."""

    mode: str = "none"
    """none, annotations (prometheus.io/* on the pods) or servicemonitor (a monitoring.coreos.com/v1 ServiceMonitor)."""
    scraper_namespace: str = "monitoring"
    """Namespace of the Prometheus pods: admitted to the HTTP port, and to nothing else."""
    service_monitor_labels: Mapping[str, str] = field(default_factory=dict)
    """Labels the Prometheus serviceMonitorSelector matches."""
    ready: Sequence[pulumi.Resource] = ()
    """What must succeed before the ServiceMonitor is created (the check that its CRD is installed)."""


@dataclass(frozen=True)
class SecretEnv:
    """An environment variable read from one key of a Secret."""

    secret_name: pulumi.Input[str]
    """Name of the Secret in the namespace."""
    key: str
    """Key inside the Secret."""
    checksum: pulumi.Input[str]
    """Keyed digest of the Secret's data (checksums.secret_checksum): a new value rolls the pods, which
    would otherwise keep the old one until they happen to restart."""


@dataclass(frozen=True)
class SecretFile:
    """A file the service reads from one key of a Secret, mounted read-only; a variable names its path."""

    secret_name: pulumi.Input[str]
    """Name of the Secret in the namespace."""
    key: str
    """Key inside the Secret: the file's name."""
    checksum: pulumi.Input[str]
    """Keyed digest of the Secret's data (checksums.secret_checksum): the service reads the file at start, so a
    new value must roll the pods."""


# Where SecretFiles are mounted, one directory each.
SECRET_FILES_DIR = "/var/run/secrets/wal-service"


def secret_file_mount(env_name: str, ref: SecretFile) -> tuple[str, str]:
    """The volume name and the file path of the SecretFile named by `env_name` (API_KEYS_FILE -> api-keys)."""
    volume = env_name.removesuffix("_FILE").lower().replace("_", "-")
    return volume, f"{SECRET_FILES_DIR}/{volume}/{ref.key}"


@dataclass(frozen=True)
class ServiceWorkloadArgs:
    instance: str
    """app.kubernetes.io/instance of the service's objects (wal-service-<stack>); its pods are selected by it."""
    namespace: pulumi.Input[str]
    """Namespace to deploy into (an AppNamespace's output, so it exists first)."""
    image: pulumi.Input[str]
    """Image reference the pods run; digest-pinned where the image seam can provide it."""
    version: str
    """Value of the app.kubernetes.io/version label (short git revision or image tag)."""
    config: AppConfig
    """The service's own ConfigMap entries."""
    limits: Limits
    """Request and connection limits."""
    scaling: Scaling
    """Replicas or the HPA's range."""
    resources: Resources
    """Container requests and limits."""
    probes: Probes
    """Probe paths and the startup budget."""
    shutdown: Shutdown
    """Graceful-shutdown timings."""
    routing: Routing
    """The route's host and whether it is an HTTPRoute on a Gateway or an Ingress."""
    extra_config: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """ConfigMap entries contributed by other components (e.g. database connection settings)."""
    secret_env: Mapping[str, SecretEnv] = field(default_factory=dict)
    """Environment variables read from Secrets: NAME -> where the value lives and its checksum."""
    secret_files: Mapping[str, SecretFile] = field(default_factory=dict)
    """Files mounted from Secrets: NAME (a ConfigMap entry holding the file's path, e.g. API_KEYS_FILE) -> the
    Secret key and its checksum."""
    egress_policies: Sequence[NetworkPolicyEgressRuleArgs] = ()
    """Egress the pods need beyond DNS (e.g. to the database)."""
    image_pull_secret: pulumi.Input[str] | None = None
    """Name of a dockerconfigjson Secret in the namespace, for private registries."""
    route_depends_on: Sequence[pulumi.Resource] = ()
    """Resources that must be ready before the route is created (the host-claim check, the Gateway)."""
    monitoring: Monitoring = field(default_factory=Monitoring)
    """How the metrics are scraped."""
    deployment_depends_on: Sequence[pulumi.Resource] = ()
    """What must finish before the Deployment changes (the HPA's deletion when autoscaling goes off)."""


def instance_name(stack: str) -> str:
    """The app.kubernetes.io/instance value of a stack's service."""
    return f"{APP_NAME}-{stack}"


def standard_labels(instance: str, version: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": instance,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": "api",
        "app.kubernetes.io/part-of": APP_NAME,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def stable_labels(instance: str, component: str) -> dict[str, str]:
    """Labels of the stack's objects that do not change with the service (no version): `component` names what
    they belong to, e.g. the namespace as a whole or the stack's Gateway."""
    labels = standard_labels(instance, "")
    del labels["app.kubernetes.io/version"]
    return {**labels, "app.kubernetes.io/component": component}


def namespace_labels(instance: str) -> dict[str, str]:
    """Labels of what belongs to the stack's namespace as a whole (the Namespace, its default-deny and DNS policies,
    the pull secret)."""
    return stable_labels(instance, "namespace")


def selector_labels(instance: str) -> dict[str, str]:
    """The immutable subset of the labels that selects the service's pods."""
    return {"app.kubernetes.io/name": APP_NAME, "app.kubernetes.io/instance": instance}


def base_config(config: AppConfig, shutdown: Shutdown, limits: Limits) -> dict[str, str]:
    """ConfigMap data the program owns; environment-specific values come from the stack file only."""
    return {
        "APP_NAME": APP_NAME,
        "APP_ENV": config.app_env,
        "LOG_LEVEL": config.log_level,
        "PORT": str(HTTP_PORT),
        "DRAIN_SECONDS": str(shutdown.drain_seconds),
        "SHUTDOWN_TIMEOUT_SECONDS": str(shutdown.shutdown_timeout_seconds),
        "MAX_BODY_BYTES": str(limits.max_body_bytes),
        "MAX_JSON_DEPTH": str(limits.max_json_depth),
        "MAX_HEADER_BYTES": str(limits.max_header_bytes),
        "MAX_INFLIGHT_BYTES": str(limits.max_inflight_bytes),
        "MAX_CONNECTIONS": str(limits.max_connections),
        "HEADER_READ_TIMEOUT_SECONDS": str(limits.header_read_timeout_seconds),
        "BODY_READ_TIMEOUT_SECONDS": str(limits.body_read_timeout_seconds),
        **config.feature_flags,
    }


def scrape_annotations(monitoring: Monitoring) -> dict[str, str]:
    """The prometheus.io/* pod annotations that Prometheus's kubernetes-pods scrape job reads (annotations mode)."""
    if monitoring.mode != "annotations":
        return {}
    return {"prometheus.io/scrape": "true", "prometheus.io/port": str(HTTP_PORT), "prometheus.io/path": METRICS_PATH}


class ServiceWorkload(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    deployment_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    route_host: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceWorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:ServiceWorkload", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        labels = standard_labels(args.instance, args.version)
        selector = selector_labels(args.instance)

        def meta(object_name: str, annotations: Mapping[str, str] | None = None) -> ObjectMetaArgs:
            return ObjectMetaArgs(
                name=object_name, namespace=args.namespace, labels=labels, annotations=owned(annotations)
            )

        account = k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            metadata=meta(APP_NAME),
            # The service never calls the Kubernetes API: least privilege is no token at all.
            automount_service_account_token=False,
            opts=child,
        )

        config_data: dict[str, pulumi.Input[str]] = {
            **base_config(args.config, args.shutdown, args.limits),
            **args.extra_config,
            **{env_name: secret_file_mount(env_name, ref)[1] for env_name, ref in args.secret_files.items()},
        }
        config = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=meta(f"{APP_NAME}-config"), data=config_data, opts=child
        )
        # Changed ConfigMap or Secret data does not restart pods by itself; checksums in the pod template do.
        checksums: dict[str, pulumi.Input[str]] = {
            "checksum/config": pulumi.Output.all(config_data).apply(lambda resolved: config_checksum(resolved[0]))
        }
        secret_checksums = [
            *(ref.checksum for ref in args.secret_env.values()),
            *(ref.checksum for ref in args.secret_files.values()),
        ]
        if secret_checksums:
            checksums["checksum/secrets"] = pulumi.Output.all(*secret_checksums).apply(combine)

        deployment = k8s.apps.v1.Deployment(
            f"{name}-deployment",
            # checkov wants secrets mounted as files; the service reads its whole config from the
            # environment, and DATABASE_PASSWORD only ever arrives through a secretKeyRef.
            metadata=meta(
                APP_NAME,
                annotations={
                    "checkov.io/skip1": "CKV_K8S_35=DATABASE_PASSWORD comes from a Secret via secretKeyRef, "
                    "never a literal; the service reads its config from the environment only"
                },
            ),
            spec=DeploymentSpecArgs(
                # With an HPA, spec.replicas belongs to the HPA: setting it here would fight it on every up.
                replicas=None if args.scaling.autoscaling else args.scaling.replicas,
                selector=LabelSelectorArgs(match_labels=selector),
                min_ready_seconds=5,
                progress_deadline_seconds=600,
                revision_history_limit=5,
                strategy=DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=MAX_SURGE),
                ),
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(
                        labels=labels, annotations={**checksums, **scrape_annotations(args.monitoring)}
                    ),
                    spec=self._pod_spec(args, account, config, selector),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.deployment_depends_on)),
        )

        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(APP_NAME),
            spec=ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[ServicePortArgs(name="http", port=HTTP_PORT, target_port="http", protocol="TCP")],
            ),
            opts=child,
        )

        routing = args.routing
        route_opts = pulumi.ResourceOptions(parent=self, depends_on=list(args.route_depends_on))
        if isinstance(routing.via, GatewayRoute):
            route: pulumi.CustomResource = http_route(
                f"{name}-route", routing.host, routing.via, meta, service, route_opts
            )
        else:
            route = ingress(f"{name}-ingress", routing.host, routing.via, meta, service, route_opts)

        self._namespace_policies(name, args, child)
        self._network_policies(name, args, meta, selector, child)
        if args.monitoring.mode == "servicemonitor":
            self._service_monitor(name, args, labels, selector)

        scaling = args.scaling
        if scaling.autoscaling:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata=meta(APP_NAME),
                spec=HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
                    ),
                    min_replicas=scaling.min_replicas,
                    max_replicas=scaling.max_replicas,
                    metrics=[
                        MetricSpecArgs(
                            type="Resource",
                            resource=ResourceMetricSourceArgs(
                                name="cpu",
                                target=MetricTargetArgs(
                                    type="Utilization", average_utilization=scaling.target_cpu_utilization
                                ),
                            ),
                        )
                    ],
                ),
                opts=child,
            )

        if scaling.min_pods >= 2:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-pdb",
                metadata=meta(APP_NAME),
                spec=PodDisruptionBudgetSpecArgs(
                    max_unavailable=1,
                    selector=LabelSelectorArgs(match_labels=selector),
                    # Lets a drain evict pods that are already unhealthy instead of blocking on them.
                    unhealthy_pod_eviction_policy="AlwaysAllow",
                ),
                opts=child,
            )

        self.namespace = pulumi.Output.from_input(args.namespace)
        self.deployment_name = deployment.metadata.name
        self.service_name = service.metadata.name
        self.route_host = route.id.apply(lambda _: routing.host)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "deployment_name": self.deployment_name,
                "service_name": self.service_name,
                "route_host": self.route_host,
            }
        )

    @staticmethod
    def _pod_spec(
        args: ServiceWorkloadArgs,
        account: k8s.core.v1.ServiceAccount,
        config: k8s.core.v1.ConfigMap,
        selector: dict[str, str],
    ) -> PodSpecArgs:
        probes, shutdown = args.probes, args.shutdown
        secret_files = [(*secret_file_mount(name, ref), ref) for name, ref in sorted(args.secret_files.items())]

        def http_probe(path: str, period: int, failures: int) -> ProbeArgs:
            return ProbeArgs(
                http_get=HTTPGetActionArgs(path=path, port="http"),
                period_seconds=period,
                timeout_seconds=2,
                failure_threshold=failures,
            )

        spread = [
            TopologySpreadConstraintArgs(
                topology_key=key,
                max_skew=1,
                # Soft: a one-node kind cluster or a single-zone cluster must still schedule every replica.
                when_unsatisfiable="ScheduleAnyway",
                node_taints_policy="Honor",
                label_selector=LabelSelectorArgs(match_labels=selector),
                # Spread each ReplicaSet on its own, so a rollout is not skewed by the old pods.
                match_label_keys=["pod-template-hash"],
            )
            for key in ("kubernetes.io/hostname", "topology.kubernetes.io/zone")
        ]

        container = ContainerArgs(
            name=APP_NAME,
            image=args.image,
            image_pull_policy="IfNotPresent",
            ports=[ContainerPortArgs(name="http", container_port=HTTP_PORT, protocol="TCP")],
            env_from=[EnvFromSourceArgs(config_map_ref=ConfigMapEnvSourceArgs(name=config.metadata.name))],
            env=[
                EnvVarArgs(
                    name=env_name,
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=ref.secret_name, key=ref.key)
                    ),
                )
                for env_name, ref in sorted(args.secret_env.items())
            ]
            or None,
            resources=requirements_args(args.resources.requirements),
            # Startup polls often with a budget instead of an initial delay: a fast start is Ready at once.
            startup_probe=http_probe(
                probes.health_path, STARTUP_PERIOD_SECONDS, -(-probes.startup_budget_seconds // STARTUP_PERIOD_SECONDS)
            ),
            readiness_probe=http_probe(probes.ready_path, 5, 2),
            # Liveness only starts once the startup probe has succeeded.
            liveness_probe=http_probe(probes.health_path, 10, 3),
            # Endpoint removal takes a moment to reach every proxy; keep serving until it has.
            lifecycle=LifecycleArgs(
                pre_stop=LifecycleHandlerArgs(sleep=SleepActionArgs(seconds=shutdown.pre_stop_seconds))
            )
            if shutdown.pre_stop_seconds
            else None,
            security_context=restricted_container(APP_UID),
            volume_mounts=[
                VolumeMountArgs(name="tmp", mount_path="/tmp"),
                *(
                    VolumeMountArgs(name=volume, mount_path=path.rsplit("/", 1)[0], read_only=True)
                    for volume, path, _ in secret_files
                ),
            ],
        )

        return PodSpecArgs(
            service_account_name=account.metadata.name,
            automount_service_account_token=False,
            # Service links inject env vars for every Service in the namespace; the app reads its own config.
            enable_service_links=False,
            termination_grace_period_seconds=shutdown.termination_grace_period_seconds,
            security_context=restricted_pod(APP_UID),
            image_pull_secrets=[LocalObjectReferenceArgs(name=args.image_pull_secret)]
            if args.image_pull_secret
            else None,
            topology_spread_constraints=spread if args.scaling.min_pods > 1 else None,
            containers=[container],
            volumes=[
                VolumeArgs(name="tmp", empty_dir=EmptyDirVolumeSourceArgs(size_limit="64Mi")),
                *(
                    VolumeArgs(
                        name=volume,
                        # Only the one key, readable by the service's group (fsGroup) and nobody else.
                        secret=SecretVolumeSourceArgs(
                            secret_name=ref.secret_name,
                            items=[KeyToPathArgs(key=ref.key, path=ref.key)],
                            default_mode=0o440,
                        ),
                    )
                    for volume, _, ref in secret_files
                ),
            ],
        )

    @staticmethod
    def _namespace_policies(name: str, args: ServiceWorkloadArgs, child: pulumi.ResourceOptions) -> None:
        """Default deny and DNS egress for every pod of the namespace: they belong to the namespace, not the API."""

        def meta(object_name: str) -> ObjectMetaArgs:
            return ObjectMetaArgs(
                name=object_name, namespace=args.namespace, labels=namespace_labels(args.instance), annotations=owned()
            )

        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=meta("default-deny"),
            spec=NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(), policy_types=["Ingress", "Egress"]),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns",
            metadata=meta("allow-dns-egress"),
            spec=NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(),
                policy_types=["Egress"],
                egress=[
                    NetworkPolicyEgressRuleArgs(
                        to=[
                            NetworkPolicyPeerArgs(
                                namespace_selector=LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                                ),
                                pod_selector=LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
                            )
                        ],
                        ports=[
                            NetworkPolicyPortArgs(protocol="UDP", port=53),
                            NetworkPolicyPortArgs(protocol="TCP", port=53),
                        ],
                    )
                ],
            ),
            opts=child,
        )

    @staticmethod
    def _network_policies(
        name: str,
        args: ServiceWorkloadArgs,
        make_meta: Callable[[str], ObjectMetaArgs],
        selector: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> None:
        via = args.routing.via
        if isinstance(via, GatewayRoute):
            # The data plane proxies to the pods directly; only the Gateway's own pods may.
            source, policy = (
                NetworkPolicyPeerArgs(
                    namespace_selector=LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": via.gateway_namespace}
                    ),
                    pod_selector=LabelSelectorArgs(match_labels={GATEWAY_NAME_LABEL: via.gateway_name}),
                ),
                "allow-gateway",
            )
        else:
            source, policy = (
                NetworkPolicyPeerArgs(
                    namespace_selector=LabelSelectorArgs(
                        match_labels={"kubernetes.io/metadata.name": via.controller_namespace}
                    )
                ),
                "allow-ingress-controller",
            )

        def admit(policy: str, source: NetworkPolicyPeerArgs) -> None:
            """`source` may reach the service's HTTP port, and nothing else of ours."""
            k8s.networking.v1.NetworkPolicy(
                f"{name}-{policy}",
                metadata=make_meta(policy),
                spec=NetworkPolicySpecArgs(
                    pod_selector=LabelSelectorArgs(match_labels=selector),
                    policy_types=["Ingress"],
                    ingress=[
                        NetworkPolicyIngressRuleArgs(
                            from_=[source], ports=[NetworkPolicyPortArgs(protocol="TCP", port="http")]
                        )
                    ],
                ),
                opts=child,
            )

        admit(policy, source)
        # /metrics is served on the HTTP port; a NetworkPolicy cannot narrow a port to one path.
        if args.monitoring.mode != "none":
            scraper = {"kubernetes.io/metadata.name": args.monitoring.scraper_namespace}
            admit(
                "allow-metrics-scrape",
                NetworkPolicyPeerArgs(namespace_selector=LabelSelectorArgs(match_labels=scraper)),
            )
        if args.egress_policies:
            k8s.networking.v1.NetworkPolicy(
                f"{name}-allow-egress",
                metadata=make_meta("allow-app-egress"),
                spec=NetworkPolicySpecArgs(
                    pod_selector=LabelSelectorArgs(match_labels=selector),
                    policy_types=["Egress"],
                    egress=list(args.egress_policies),
                ),
                opts=child,
            )

    def _service_monitor(
        self, name: str, args: ServiceWorkloadArgs, labels: dict[str, str], selector: dict[str, str]
    ) -> None:
        """A monitoring.coreos.com/v1 ServiceMonitor for the Prometheus Operator, once its CRD is known to exist
        (prometheus-operator example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml)."""
        monitoring = args.monitoring
        k8s.apiextensions.CustomResource(
            f"{name}-servicemonitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=ObjectMetaArgs(
                name=APP_NAME,
                namespace=args.namespace,
                labels={**labels, **monitoring.service_monitor_labels},
                annotations=owned(),
            ),
            spec={
                # Matches our Service (it carries these labels), whose port "http" serves /metrics.
                "selector": {"matchLabels": selector},
                "endpoints": [{"port": "http", "path": METRICS_PATH, "interval": SCRAPE_INTERVAL, "scheme": "http"}],
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(monitoring.ready)),
        )


def ingress(
    name: str,
    host: str,
    via: IngressRoute,
    meta: Callable[..., ObjectMetaArgs],
    service: k8s.core.v1.Service,
    opts: pulumi.ResourceOptions,
) -> k8s.networking.v1.Ingress:
    """One host, `/` with pathType Prefix, no rewriting."""
    return k8s.networking.v1.Ingress(
        name,
        metadata=meta(f"{APP_NAME}-ingress", annotations=dict(via.annotations) or None),
        spec=IngressSpecArgs(
            ingress_class_name=via.class_name,
            tls=[IngressTLSArgs(hosts=[host], secret_name=via.tls_secret_name)] if via.tls_secret_name else None,
            rules=[
                IngressRuleArgs(
                    host=host,
                    http=HTTPIngressRuleValueArgs(
                        paths=[
                            HTTPIngressPathArgs(
                                path="/",
                                path_type="Prefix",
                                backend=IngressBackendArgs(
                                    service=IngressServiceBackendArgs(
                                        name=service.metadata.name, port=ServiceBackendPortArgs(name="http")
                                    )
                                ),
                            )
                        ]
                    ),
                )
            ],
        ),
        # The controller's admission webhook, if any, rejects Ingresses until it answers.
        opts=opts,
    )


def http_route(
    name: str,
    host: str,
    via: GatewayRoute,
    meta: Callable[..., ObjectMetaArgs],
    service: k8s.core.v1.Service,
    opts: pulumi.ResourceOptions,
) -> k8s.apiextensions.CustomResource:
    """One hostname, PathPrefix `/` to the Service, no filters: the URL reaches the service unchanged."""
    return k8s.apiextensions.CustomResource(
        name,
        api_version=GATEWAY_API,
        kind="HTTPRoute",
        metadata=meta(APP_NAME, annotations={"pulumi.com/waitFor": route_ready(via)}),
        spec={
            "parentRefs": [
                {
                    "group": "gateway.networking.k8s.io",
                    "kind": "Gateway",
                    "namespace": via.gateway_namespace,
                    "name": via.gateway_name,
                }
            ],
            "hostnames": [host],
            "rules": [
                {
                    "matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                    "backendRefs": [{"name": service.metadata.name, "port": HTTP_PORT}],
                }
            ],
        },
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(custom_timeouts=AWAIT_TIMEOUTS)),
    )
