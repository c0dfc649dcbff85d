"""ServiceWorkload: everything the WAL service needs inside one namespace."""

from __future__ import annotations

import hashlib
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
    LifecycleArgs,
    LifecycleHandlerArgs,
    LocalObjectReferenceArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    ResourceRequirementsArgs,
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

from components.security import restricted_container, restricted_pod
from components.settings import Settings
from components.stack_config import PROJECT

APP_NAME = PROJECT
HTTP_PORT = 8080
# The production image runs as this numeric UID/GID (app/Dockerfile).
APP_UID = 10001
STARTUP_PERIOD_SECONDS = 2


@dataclass(frozen=True)
class ServiceWorkloadArgs:
    settings: Settings
    """Validated stack settings."""
    namespace: pulumi.Input[str]
    """Namespace to deploy into (an AppNamespace's output, so it exists first)."""
    image: pulumi.Input[str]
    """Image reference the pods run; digest-pinned where the image seam can provide it."""
    version: str
    """Value of the app.kubernetes.io/version label (short git revision or image tag)."""
    extra_config: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    """ConfigMap entries contributed by other components (e.g. database connection settings)."""
    secret_env: Mapping[str, tuple[pulumi.Input[str], str]] = field(default_factory=dict)
    """Environment variables read from Secrets: NAME -> (secret name, key)."""
    egress_policies: Sequence[NetworkPolicyEgressRuleArgs] = ()
    """Egress the pods need beyond DNS (e.g. to the database)."""
    image_pull_secret: pulumi.Input[str] | None = None
    """Name of a dockerconfigjson Secret in the namespace, for private registries."""
    ingress_depends_on: Sequence[pulumi.Resource] = ()
    """Resources that must be ready before the Ingress is created (the controller and its webhook)."""


def standard_labels(settings: Settings, version: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": f"{APP_NAME}-{settings.stack}",
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/component": "api",
        "app.kubernetes.io/part-of": APP_NAME,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector_labels(settings: Settings) -> dict[str, str]:
    """The immutable subset of the labels that selects the service's pods."""
    return {
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/instance": f"{APP_NAME}-{settings.stack}",
    }


def base_config(settings: Settings) -> dict[str, str]:
    """ConfigMap data the program owns; environment-specific values come from the stack file only."""
    flags = dict(entry.split("=", 1) for entry in settings.feature_flags)
    return {
        "APP_NAME": APP_NAME,
        "APP_ENV": settings.app_env,
        "LOG_LEVEL": settings.log_level,
        "PORT": str(HTTP_PORT),
        "DRAIN_SECONDS": str(settings.drain_seconds),
        "SHUTDOWN_TIMEOUT_SECONDS": str(settings.shutdown_timeout_seconds),
        "MAX_BODY_BYTES": str(settings.max_body_bytes),
        "MAX_JSON_DEPTH": str(settings.max_json_depth),
        "MAX_HEADER_BYTES": str(settings.max_header_bytes),
        "MAX_INFLIGHT_BYTES": str(settings.max_inflight_bytes),
        "MAX_CONNECTIONS": str(settings.max_connections),
        "HEADER_READ_TIMEOUT_SECONDS": str(settings.header_read_timeout_seconds),
        "BODY_READ_TIMEOUT_SECONDS": str(settings.body_read_timeout_seconds),
        **flags,
    }


def _checksum(data: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(dict(data), sort_keys=True).encode()).hexdigest()


class ServiceWorkload(pulumi.ComponentResource):
    namespace: pulumi.Output[str]
    deployment_name: pulumi.Output[str]
    service_name: pulumi.Output[str]
    ingress_host: pulumi.Output[str]

    def __init__(self, name: str, args: ServiceWorkloadArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:ServiceWorkload", name, None, opts)
        s = args.settings
        child = pulumi.ResourceOptions(parent=self)
        labels = standard_labels(s, args.version)
        selector = selector_labels(s)

        def meta(object_name: str, **extra: object) -> ObjectMetaArgs:
            return ObjectMetaArgs(name=object_name, namespace=args.namespace, labels=labels, **extra)  # type: ignore[arg-type]

        account = k8s.core.v1.ServiceAccount(
            f"{name}-serviceaccount",
            metadata=meta(APP_NAME),
            # The service never calls the Kubernetes API: least privilege is no token at all.
            automount_service_account_token=False,
            opts=child,
        )

        config_data: dict[str, pulumi.Input[str]] = {**base_config(s), **args.extra_config}
        config = k8s.core.v1.ConfigMap(
            f"{name}-config", metadata=meta(f"{APP_NAME}-config"), data=config_data, opts=child
        )
        # A changed ConfigMap does not restart pods by itself; a checksum in the pod template does.
        checksum = pulumi.Output.all(config_data).apply(lambda resolved: _checksum(resolved[0]))

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
                replicas=None if s.autoscaling else s.replicas,
                selector=LabelSelectorArgs(match_labels=selector),
                min_ready_seconds=5,
                progress_deadline_seconds=600,
                revision_history_limit=5,
                strategy=DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=RollingUpdateDeploymentArgs(max_unavailable=0, max_surge=1),
                ),
                template=PodTemplateSpecArgs(
                    metadata=ObjectMetaArgs(labels=labels, annotations={"checksum/config": checksum}),
                    spec=self._pod_spec(args, account, config, selector),
                ),
            ),
            opts=child,
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

        annotations = dict(entry.split("=", 1) for entry in s.ingress_annotations)
        ingress = k8s.networking.v1.Ingress(
            f"{name}-ingress",
            metadata=meta(f"{APP_NAME}-ingress", annotations=annotations or None),
            spec=IngressSpecArgs(
                ingress_class_name=s.ingress_class_name,
                tls=[IngressTLSArgs(hosts=[s.host], secret_name=s.tls_secret_name)] if s.tls_secret_name else None,
                rules=[
                    IngressRuleArgs(
                        host=s.host,
                        http=HTTPIngressRuleValueArgs(
                            paths=[
                                HTTPIngressPathArgs(
                                    path="/",
                                    path_type="Prefix",
                                    backend=IngressBackendArgs(
                                        service=IngressServiceBackendArgs(
                                            name=service.metadata.name,
                                            port=ServiceBackendPortArgs(name="http"),
                                        )
                                    ),
                                )
                            ]
                        ),
                    )
                ],
            ),
            # The controller's admission webhook rejects Ingresses until it answers.
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.ingress_depends_on)),
        )

        self._network_policies(name, args, meta, selector, child)

        if s.autoscaling:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                f"{name}-hpa",
                metadata=meta(APP_NAME),
                spec=HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=deployment.metadata.name
                    ),
                    min_replicas=s.min_replicas,
                    max_replicas=s.max_replicas,
                    metrics=[
                        MetricSpecArgs(
                            type="Resource",
                            resource=ResourceMetricSourceArgs(
                                name="cpu",
                                target=MetricTargetArgs(
                                    type="Utilization", average_utilization=s.target_cpu_utilization
                                ),
                            ),
                        )
                    ],
                ),
                opts=child,
            )

        if s.min_pods >= 2:
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
        self.ingress_host = ingress.spec.apply(lambda _: s.host)
        self.register_outputs(
            {
                "namespace": self.namespace,
                "deployment_name": self.deployment_name,
                "service_name": self.service_name,
                "ingress_host": self.ingress_host,
            }
        )

    @staticmethod
    def _pod_spec(
        args: ServiceWorkloadArgs,
        account: k8s.core.v1.ServiceAccount,
        config: k8s.core.v1.ConfigMap,
        selector: dict[str, str],
    ) -> PodSpecArgs:
        s = args.settings

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
                        secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=key)
                    ),
                )
                for env_name, (secret, key) in sorted(args.secret_env.items())
            ]
            or None,
            resources=ResourceRequirementsArgs(
                requests={"cpu": s.cpu_request, "memory": s.memory_request},
                limits={"cpu": s.cpu_limit, "memory": s.memory_limit},
            ),
            # Startup polls often with a budget instead of an initial delay: a fast start is Ready at once.
            startup_probe=http_probe(
                s.health_path, STARTUP_PERIOD_SECONDS, -(-s.startup_budget_seconds // STARTUP_PERIOD_SECONDS)
            ),
            readiness_probe=http_probe(s.ready_path, 5, 2),
            # Liveness only starts once the startup probe has succeeded.
            liveness_probe=http_probe(s.health_path, 10, 3),
            # Endpoint removal takes a moment to reach every proxy; keep serving until it has.
            lifecycle=LifecycleArgs(pre_stop=LifecycleHandlerArgs(sleep=SleepActionArgs(seconds=s.pre_stop_seconds)))
            if s.pre_stop_seconds
            else None,
            security_context=restricted_container(APP_UID),
            volume_mounts=[VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )

        return PodSpecArgs(
            service_account_name=account.metadata.name,
            automount_service_account_token=False,
            # Service links inject env vars for every Service in the namespace; the app reads its own config.
            enable_service_links=False,
            termination_grace_period_seconds=s.termination_grace_period_seconds,
            security_context=restricted_pod(APP_UID),
            image_pull_secrets=[LocalObjectReferenceArgs(name=args.image_pull_secret)]
            if args.image_pull_secret
            else None,
            topology_spread_constraints=spread if s.min_pods > 1 else None,
            containers=[container],
            volumes=[VolumeArgs(name="tmp", empty_dir=EmptyDirVolumeSourceArgs(size_limit="64Mi"))],
        )

    @staticmethod
    def _network_policies(
        name: str,
        args: ServiceWorkloadArgs,
        make_meta: Callable[[str], ObjectMetaArgs],
        selector: dict[str, str],
        child: pulumi.ResourceOptions,
    ) -> None:
        s = args.settings

        k8s.networking.v1.NetworkPolicy(
            f"{name}-default-deny",
            metadata=make_meta("default-deny"),
            spec=NetworkPolicySpecArgs(pod_selector=LabelSelectorArgs(), policy_types=["Ingress", "Egress"]),
            opts=child,
        )
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-dns",
            metadata=make_meta("allow-dns-egress"),
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
        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-ingress-controller",
            metadata=make_meta("allow-ingress-controller"),
            spec=NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress"],
                ingress=[
                    NetworkPolicyIngressRuleArgs(
                        from_=[
                            NetworkPolicyPeerArgs(
                                namespace_selector=LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": s.ingress_controller_namespace}
                                )
                            )
                        ],
                        ports=[NetworkPolicyPortArgs(protocol="TCP", port="http")],
                    )
                ],
            ),
            opts=child,
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
