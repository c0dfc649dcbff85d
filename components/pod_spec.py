"""The service's pod: its one container (port, probes, resources, preStop pause, restricted security context),
the Secrets it reads, and how its replicas spread over nodes and zones."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
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
    ProbeArgs,
    SecretVolumeSourceArgs,
    SleepActionArgs,
    TopologySpreadConstraintArgs,
    VolumeArgs,
    VolumeMountArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs

from components.app_config import HTTP_PORT, HTTP_PORT_NAME, Shutdown
from components.labels import APP_NAME
from components.quota import requirements_args
from components.security import restricted_container, restricted_pod

# The production image runs as this numeric UID/GID (app/Dockerfile).
APP_UID = 10001
STARTUP_PERIOD_SECONDS = 2
# The service's one container (make verify reads its logs by this name).
CONTAINER_NAME = APP_NAME


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


def service_pod_spec(
    *,
    image: pulumi.Input[str],
    image_pull_secret: pulumi.Input[str] | None,
    resources: Resources,
    probes: Probes,
    shutdown: Shutdown,
    secret_env: Mapping[str, SecretEnv],
    secret_files: Mapping[str, SecretFile],
    min_pods: int,
    service_account: pulumi.Input[str],
    config_map: pulumi.Input[str],
    selector: dict[str, str],
) -> PodSpecArgs:
    """The pod template's spec: the container reads its whole config from `config_map` (envFrom) and the
    Secrets; `min_pods` above one spreads the replicas; `selector` selects the pods the spread counts."""
    mounted = [(*secret_file_mount(name, ref), ref) for name, ref in sorted(secret_files.items())]

    def http_probe(path: str, period: int, failures: int) -> ProbeArgs:
        return ProbeArgs(
            http_get=HTTPGetActionArgs(path=path, port=HTTP_PORT_NAME),
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
        name=CONTAINER_NAME,
        image=image,
        image_pull_policy="IfNotPresent",
        ports=[ContainerPortArgs(name=HTTP_PORT_NAME, container_port=HTTP_PORT, protocol="TCP")],
        env_from=[EnvFromSourceArgs(config_map_ref=ConfigMapEnvSourceArgs(name=config_map))],
        env=[
            EnvVarArgs(
                name=env_name,
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=ref.secret_name, key=ref.key)
                ),
            )
            for env_name, ref in sorted(secret_env.items())
        ]
        or None,
        resources=requirements_args(resources.requirements),
        # Startup polls often with a budget instead of an initial delay: a fast start is Ready at once.
        startup_probe=http_probe(
            probes.health_path, STARTUP_PERIOD_SECONDS, -(-probes.startup_budget_seconds // STARTUP_PERIOD_SECONDS)
        ),
        readiness_probe=http_probe(probes.ready_path, 5, 2),
        # Liveness only starts once the startup probe has succeeded.
        liveness_probe=http_probe(probes.health_path, 10, 3),
        # Endpoint removal takes a moment to reach every proxy; keep serving until it has.
        lifecycle=LifecycleArgs(pre_stop=LifecycleHandlerArgs(sleep=SleepActionArgs(seconds=shutdown.pre_stop_seconds)))
        if shutdown.pre_stop_seconds
        else None,
        security_context=restricted_container(APP_UID),
        volume_mounts=[
            VolumeMountArgs(name="tmp", mount_path="/tmp"),
            *(
                VolumeMountArgs(name=volume, mount_path=path.rsplit("/", 1)[0], read_only=True)
                for volume, path, _ in mounted
            ),
        ],
    )

    return PodSpecArgs(
        service_account_name=service_account,
        automount_service_account_token=False,
        # Service links inject env vars for every Service in the namespace; the app reads its own config.
        enable_service_links=False,
        termination_grace_period_seconds=shutdown.termination_grace_period_seconds,
        security_context=restricted_pod(APP_UID),
        image_pull_secrets=[LocalObjectReferenceArgs(name=image_pull_secret)] if image_pull_secret else None,
        topology_spread_constraints=spread if min_pods > 1 else None,
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
                for volume, _, ref in mounted
            ),
        ],
    )
