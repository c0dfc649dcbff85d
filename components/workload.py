"""ServiceWorkload: the WAL service inside its namespace: ServiceAccount, ConfigMap, Deployment, Service, its
route and NetworkPolicies, and the HPA and PDB that keep enough pods running."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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
from pulumi_kubernetes.core.v1 import PodTemplateSpecArgs, ServicePortArgs, ServiceSpecArgs
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import NetworkPolicyEgressRuleArgs
from pulumi_kubernetes.policy.v1 import PodDisruptionBudgetSpecArgs

from components import network_policies, routes
from components.app_config import CONFIG_MAP_NAME, HTTP_PORT, HTTP_PORT_NAME, AppConfig, Limits, Shutdown, base_config
from components.checksums import combine, config_checksum
from components.labels import APP_NAME, selector_labels, standard_labels
from components.monitoring import Monitoring, scrape_annotations, service_monitor
from components.ownership import owned
from components.pod_spec import Probes, Resources, SecretEnv, SecretFile, secret_file_mount, service_pod_spec
from components.routes import Routing

# Pods a rollout may add above the desired count; the namespace quota must hold them too.
MAX_SURGE = 1


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
        config = k8s.core.v1.ConfigMap(f"{name}-config", metadata=meta(CONFIG_MAP_NAME), data=config_data, opts=child)
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
                    spec=service_pod_spec(
                        image=args.image,
                        image_pull_secret=args.image_pull_secret,
                        resources=args.resources,
                        probes=args.probes,
                        shutdown=args.shutdown,
                        secret_env=args.secret_env,
                        secret_files=args.secret_files,
                        min_pods=args.scaling.min_pods,
                        service_account=account.metadata.name,
                        config_map=config.metadata.name,
                        selector=selector,
                    ),
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
                ports=[
                    ServicePortArgs(name=HTTP_PORT_NAME, port=HTTP_PORT, target_port=HTTP_PORT_NAME, protocol="TCP")
                ],
            ),
            opts=child,
        )

        routing = args.routing
        route_opts = pulumi.ResourceOptions(parent=self, depends_on=list(args.route_depends_on))
        route = routes.route(name, routing, meta, service, route_opts)

        network_policies.namespace_policies(name, args.namespace, args.instance, child)
        network_policies.service_policies(
            name, routing.via, args.monitoring, args.egress_policies, meta, selector, child
        )
        if args.monitoring.mode == "servicemonitor":
            service_monitor(name, args.namespace, args.monitoring, labels, selector, child)

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
