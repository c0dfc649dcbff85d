"""Database: the PostgreSQL the service talks to, in the cluster (dev, staging) or outside it (prod).

Above ~400 lines: one component, most of it the in-cluster server's StatefulSet (`_in_cluster`), whose
container, probes, password-sync init container and volumes share the names, mounts and sizes declared at the
top; a separate pod-spec module would take those from here for its one caller and give nothing back.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
from pulumi_kubernetes.apps.v1 import StatefulSetPersistentVolumeClaimRetentionPolicyArgs, StatefulSetSpecArgs
from pulumi_kubernetes.core.v1 import (
    ContainerArgs,
    ContainerPortArgs,
    EmptyDirVolumeSourceArgs,
    EnvVarArgs,
    ExecActionArgs,
    PersistentVolumeClaimArgs,
    PersistentVolumeClaimSpecArgs,
    PodSpecArgs,
    PodTemplateSpecArgs,
    ProbeArgs,
    SecretVolumeSourceArgs,
    ServicePortArgs,
    ServiceSpecArgs,
    VolumeArgs,
    VolumeMountArgs,
    VolumeResourceRequirementsArgs,
)
from pulumi_kubernetes.meta.v1 import LabelSelectorArgs, ObjectMetaArgs
from pulumi_kubernetes.networking.v1 import (
    IPBlockArgs,
    NetworkPolicyEgressRuleArgs,
    NetworkPolicyIngressRuleArgs,
    NetworkPolicyPeerArgs,
    NetworkPolicyPortArgs,
    NetworkPolicySpecArgs,
)

from components.checksums import secret_checksum
from components.image_ref import image_version
from components.labels import INSTANCE_LABEL
from components.ownership import owned
from components.quota import Requirements, requirements_args
from components.security import restricted_container, restricted_pod
from components.stack_config import PROJECT

POSTGRES_NAME = "postgres"
POSTGRES_PORT = 5432
# UID/GID of the postgres user in the official Debian-based image.
POSTGRES_UID = 999
DATA_MOUNT = "/var/lib/postgresql/data"
# A subdirectory: initdb refuses a non-empty directory, and a fresh volume's root may hold lost+found.
PGDATA = f"{DATA_MOUNT}/pgdata"
SECRET_NAME = f"{PROJECT}-database"
# The server's and its init container's `resources`; the namespace quota is sized from these too. The data
# lives on the claim: the server's ephemeral storage holds its emptyDirs (RUN_SIZE + TMP_SIZE) and its rotated
# logs (50Mi at the kubelet's defaults); the init container only writes the claim and a few log lines.
RUN_SIZE = "16Mi"
TMP_SIZE = "64Mi"
SERVER_RESOURCES: Requirements = {
    "requests": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "128Mi"},
    "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "256Mi"},
}
SYNC_PASSWORD_RESOURCES: Requirements = {
    "requests": {"cpu": "50m", "memory": "128Mi", "ephemeral-storage": "16Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "64Mi"},
}
SECRETS_MOUNT = "/run/secrets/postgres"
# The server's socket directory (the image's unix_socket_directories).
RUN_MOUNT = "/var/run/postgresql"
PASSWORD_KEY = "password"

# The liveness probe: exit 0 while the postmaster answers on its socket. pg_isready exits 1 when the server
# answers but rejects connections (crash recovery, shutdown): alive, and a restart would start recovery over.
# 2 (no answer) and 3 (no attempt) mean it is gone.
_POSTMASTER_ANSWERS = f'pg_isready --quiet -h {RUN_MOUNT} -p {POSTGRES_PORT}; [ "$?" -le 1 ]'

# Runs before postgres on every start. POSTGRES_PASSWORD only applies at initdb, so retained data
# (databaseRetainOnDelete) or a regenerated password would lock the service out without this.
# The statement is never logged, even on error; the password is alphanumeric, so it needs no escaping.
_SYNC_PASSWORD = """set -eu
if [ -s "$PGDATA/PG_VERSION" ]; then
  printf 'ALTER ROLE "%s" PASSWORD \\x27%s\\x27;\\n' "$POSTGRES_USER" "$(cat "$POSTGRES_PASSWORD_FILE")" \\
    | postgres --single -D "$PGDATA" -c log_min_error_statement=panic -c log_statement=none postgres >/dev/null
fi
"""


# checkov findings accepted on purpose, each with its reason (checkov reads skipN annotations).
_CHECKOV_SKIPS_PINNED = {
    "checkov.io/skip1": "CKV_K8S_40=UID 999 is the postgres user of the official image; another UID "
    "would rely on the entrypoint's nss_wrapper path, which has not been proven with a read-only root",
}
_CHECKOV_SKIPS = {
    **_CHECKOV_SKIPS_PINNED,
    "checkov.io/skip2": "CKV_K8S_43=databaseImage is pinned by tag; its digest could not be verified "
    "offline: set wal-service:databaseImage to tag@sha256:digest to pin it",
    "checkov.io/skip3": "CKV_K8S_15=with the tag pin above, IfNotPresent keeps the node's verified copy "
    "instead of re-resolving the tag on every restart",
}


@dataclass(frozen=True)
class Connection:
    """What the service needs to log in, besides host, port and password."""

    name: str
    """Database name."""
    user: str
    """Database user."""
    ssl_mode: str
    """libpq sslmode (the in-cluster server serves no TLS: disable, allow or prefer there)."""


@dataclass(frozen=True)
class InClusterServer:
    """A PostgreSQL StatefulSet this stack owns."""

    image: str
    """PostgreSQL image, pinned by tag (and digest where known)."""
    storage_size: str
    """Size of the data volume (Kubernetes quantity)."""
    retain_on_delete: bool = False
    """Keep the data volume when the StatefulSet is deleted."""


@dataclass(frozen=True)
class ExternalServer:
    """An existing PostgreSQL outside the cluster."""

    host: str
    """Host name of the server."""
    port: int
    """Port of the server."""
    cidr: str
    """CIDR of the server: the service's only database egress."""
    password: pulumi.Output[str]
    """The password from stack config (a secret)."""


@dataclass(frozen=True)
class DatabaseArgs:
    namespace: pulumi.Input[str]
    """Namespace of the service (an AppNamespace's output, so it exists first)."""
    instance: str
    """app.kubernetes.io/instance of the database pods; distinct from the service's, so selectors stay disjoint."""
    labels: dict[str, str]
    """Standard app.kubernetes.io labels of the stack; the database overrides name, component and version."""
    client_selector: dict[str, str]
    """Pod labels of the service allowed to connect."""
    connection: Connection
    """Database name, user and sslmode the service connects with."""
    server: InClusterServer | ExternalServer
    """Where the server runs."""


class Database(pulumi.ComponentResource):
    config: dict[str, pulumi.Output[str]]
    password_secret_name: pulumi.Output[str]
    password_secret_key: str
    password_checksum: pulumi.Output[str]
    egress_rule: NetworkPolicyEgressRuleArgs

    def __init__(self, name: str, args: DatabaseArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("wal:platform:Database", name, None, opts)
        server = args.server
        child = pulumi.ResourceOptions(parent=self)

        if isinstance(server, ExternalServer):
            password: pulumi.Input[str] = server.password
        else:
            generated = random.RandomPassword(
                f"{name}-password",
                length=32,
                # Alphanumeric only: safe in a libpq connection string and in the password sync script.
                special=False,
                opts=child,
            )
            password = generated.result

        secret = k8s.core.v1.Secret(
            f"{name}-secret",
            metadata=ObjectMetaArgs(
                name=SECRET_NAME,
                namespace=args.namespace,
                labels=database_labels(args),
                annotations=owned(),
            ),
            type="Opaque",
            string_data={PASSWORD_KEY: pulumi.Output.secret(password)},
            opts=child,
        )
        self.password_secret_name = secret.metadata.name
        self.password_secret_key = PASSWORD_KEY
        # Secret data is updated in place and pods keep what they read at start: whoever reads the password
        # rolls when this changes. Keyed, so the annotation gives nothing away about a chosen password.
        checksum_key = random.RandomPassword(f"{name}-checksum-key", length=32, special=False, opts=child)
        self.password_checksum = secret_checksum(checksum_key.result, {PASSWORD_KEY: password})

        if isinstance(server, ExternalServer):
            host: pulumi.Output[str] = pulumi.Output.from_input(server.host)
            port = server.port
            self.egress_rule = NetworkPolicyEgressRuleArgs(
                to=[NetworkPolicyPeerArgs(ip_block=IPBlockArgs(cidr=server.cidr))],
                ports=[NetworkPolicyPortArgs(protocol="TCP", port=port)],
            )
        else:
            host = self._in_cluster(name, args, server, secret, child)
            port = POSTGRES_PORT
            self.egress_rule = NetworkPolicyEgressRuleArgs(
                # A peer with only a podSelector means pods of the policy's own namespace.
                to=[
                    NetworkPolicyPeerArgs(pod_selector=LabelSelectorArgs(match_labels=database_selector(args.instance)))
                ],
                ports=[NetworkPolicyPortArgs(protocol="TCP", port=POSTGRES_PORT)],
            )

        self.config = {
            "DATABASE_HOST": host,
            "DATABASE_PORT": pulumi.Output.from_input(str(port)),
            "DATABASE_NAME": pulumi.Output.from_input(args.connection.name),
            "DATABASE_USER": pulumi.Output.from_input(args.connection.user),
            "DATABASE_SSLMODE": pulumi.Output.from_input(args.connection.ssl_mode),
        }
        self.register_outputs(
            {
                "config": self.config,
                "password_secret_name": self.password_secret_name,
                "password_secret_key": self.password_secret_key,
                "password_checksum": self.password_checksum,
            }
        )

    def _in_cluster(
        self,
        name: str,
        args: DatabaseArgs,
        server: InClusterServer,
        secret: k8s.core.v1.Secret,
        child: pulumi.ResourceOptions,
    ) -> pulumi.Output[str]:
        """The StatefulSet, its headless Service and the ingress policy; returns the host name."""
        connection = args.connection
        selector = database_selector(args.instance)
        # No version here: volumeClaimTemplates are immutable, so they carry only these stable labels.
        claim_labels = database_labels(args)
        labels = {**claim_labels, "app.kubernetes.io/version": image_version(server.image)}

        def meta(object_name: str) -> ObjectMetaArgs:
            return ObjectMetaArgs(name=object_name, namespace=args.namespace, labels=labels, annotations=owned())

        service = k8s.core.v1.Service(
            f"{name}-service",
            metadata=meta(POSTGRES_NAME),
            spec=ServiceSpecArgs(
                # Headless: the StatefulSet's stable pod identity; the name resolves to the pod itself.
                cluster_ip="None",
                selector=selector,
                ports=[ServicePortArgs(name="postgres", port=POSTGRES_PORT, target_port="postgres", protocol="TCP")],
            ),
            opts=child,
        )

        env = [
            EnvVarArgs(name="POSTGRES_USER", value=connection.user),
            EnvVarArgs(name="POSTGRES_DB", value=connection.name),
            # The official image reads *_FILE variables (docker-entrypoint.sh file_env): the password
            # stays a mounted file instead of an environment variable any process listing could show.
            EnvVarArgs(name="POSTGRES_PASSWORD_FILE", value=f"{SECRETS_MOUNT}/{PASSWORD_KEY}"),
            EnvVarArgs(name="PGDATA", value=PGDATA),
        ]
        # docker-entrypoint.sh needs no writable root when it starts as UID 999: no chown, no gosu,
        # no nss_wrapper (999 is in /etc/passwd); it writes only PGDATA and the socket directory.
        security = restricted_container(POSTGRES_UID)
        data_mount = VolumeMountArgs(name="data", mount_path=DATA_MOUNT)
        secret_mount = VolumeMountArgs(name="password", mount_path=SECRETS_MOUNT, read_only=True)
        port, login = str(POSTGRES_PORT), ["-U", connection.user, "-d", connection.name]
        # Startup: -h 127.0.0.1, because during initdb the entrypoint's temporary server listens on the socket
        # only, so the pod starts only once the real server accepts TCP connections.
        accepts_tcp = ExecActionArgs(command=["pg_isready", "-h", "127.0.0.1", "-p", port, *login])
        # Readiness: a query over TCP, as the service sends one (the image's initdb trusts loopback, so no
        # password); a database too slow to answer leaves the Service's endpoints within seconds.
        answers_queries = ExecActionArgs(
            command=["psql", "--no-password", "--no-psqlrc", "-h", "127.0.0.1", "-p", port, *login, "-tAc", "SELECT 1"]
        )
        # Liveness: only whether the server process answers at all, so a slow database is taken out of rotation
        # long before it is killed (a restart would only make it slower).
        postmaster_answers = ExecActionArgs(command=["bash", "-c", _POSTMASTER_ANSWERS])

        container = ContainerArgs(
            name=POSTGRES_NAME,
            image=server.image,
            image_pull_policy="IfNotPresent",
            ports=[ContainerPortArgs(name="postgres", container_port=POSTGRES_PORT, protocol="TCP")],
            env=env,
            resources=requirements_args(SERVER_RESOURCES),
            # initdb plus the first start can take minutes on a slow disk: 5 s x 60.
            startup_probe=ProbeArgs(exec_=accepts_tcp, period_seconds=5, timeout_seconds=5, failure_threshold=60),
            # Out of rotation after two missed queries (about 10 s); killed only after two minutes of silence.
            readiness_probe=ProbeArgs(exec_=answers_queries, period_seconds=5, timeout_seconds=3, failure_threshold=2),
            liveness_probe=ProbeArgs(
                exec_=postmaster_answers, period_seconds=20, timeout_seconds=10, failure_threshold=6
            ),
            security_context=security,
            volume_mounts=[
                data_mount,
                secret_mount,
                VolumeMountArgs(name="run", mount_path=RUN_MOUNT),
                VolumeMountArgs(name="tmp", mount_path="/tmp"),
            ],
        )
        sync_password = ContainerArgs(
            name="sync-password",
            image=server.image,
            image_pull_policy="IfNotPresent",
            command=["bash", "-c", _SYNC_PASSWORD],
            env=env,
            resources=requirements_args(SYNC_PASSWORD_RESOURCES),
            security_context=security,
            volume_mounts=[data_mount, secret_mount, VolumeMountArgs(name="tmp", mount_path="/tmp")],
        )

        retain = server.retain_on_delete
        statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-statefulset",
            metadata=ObjectMetaArgs(
                name=POSTGRES_NAME,
                namespace=args.namespace,
                labels=labels,
                annotations=owned(_CHECKOV_SKIPS if "@sha256:" not in server.image else _CHECKOV_SKIPS_PINNED),
            ),
            spec=StatefulSetSpecArgs(
                service_name=service.metadata.name,
                replicas=1,
                selector=LabelSelectorArgs(match_labels=selector),
                # Without this the claim outlives the StatefulSet: `pulumi destroy` would leave the data behind.
                # Retained, it is reattached by the next StatefulSet of this name; the Environment then keeps
                # the namespace as well, whose deletion would take the claim with it.
                persistent_volume_claim_retention_policy=StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                    when_deleted="Retain" if retain else "Delete", when_scaled="Retain"
                ),
                template=PodTemplateSpecArgs(
                    # A new password reaches the server only through the sync container at start.
                    metadata=ObjectMetaArgs(labels=labels, annotations={"checksum/secret": self.password_checksum}),
                    spec=PodSpecArgs(
                        automount_service_account_token=False,
                        enable_service_links=False,
                        # Fast shutdown (the image's SIGINT stop signal) flushes and exits well within this.
                        termination_grace_period_seconds=60,
                        # fsGroup makes the fresh volume group-writable for UID 999, so the entrypoint can
                        # create PGDATA; OnRootMismatch skips the recursive chown on every restart.
                        security_context=restricted_pod(POSTGRES_UID, fs_group_change_policy="OnRootMismatch"),
                        init_containers=[sync_password],
                        containers=[container],
                        volumes=[
                            VolumeArgs(
                                name="password",
                                # Group-readable: the kubelet gives the file the pod's fsGroup (999).
                                secret=SecretVolumeSourceArgs(secret_name=secret.metadata.name, default_mode=0o440),
                            ),
                            VolumeArgs(name="run", empty_dir=EmptyDirVolumeSourceArgs(size_limit=RUN_SIZE)),
                            VolumeArgs(name="tmp", empty_dir=EmptyDirVolumeSourceArgs(size_limit=TMP_SIZE)),
                        ],
                    ),
                ),
                volume_claim_templates=[
                    PersistentVolumeClaimArgs(
                        metadata=ObjectMetaArgs(name="data", labels=claim_labels),
                        spec=PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"],
                            resources=VolumeResourceRequirementsArgs(requests={"storage": server.storage_size}),
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                # A changed template is a forbidden update, so Pulumi would replace the StatefulSet and the
                # Delete policy would take the data with it. Grow the volume by patching the claim instead.
                ignore_changes=["spec.volumeClaimTemplates"],
            ),
        )

        k8s.networking.v1.NetworkPolicy(
            f"{name}-allow-clients",
            metadata=meta("allow-postgres-clients"),
            spec=NetworkPolicySpecArgs(
                pod_selector=LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress"],
                ingress=[
                    NetworkPolicyIngressRuleArgs(
                        from_=[
                            NetworkPolicyPeerArgs(pod_selector=LabelSelectorArgs(match_labels=args.client_selector))
                        ],
                        ports=[NetworkPolicyPortArgs(protocol="TCP", port=POSTGRES_PORT)],
                    )
                ],
            ),
            opts=child,
        )

        # Depends on the StatefulSet so the service's config changes only once the server exists.
        return pulumi.Output.all(service.metadata.name, args.namespace, statefulset.metadata.name).apply(
            lambda values: f"{values[0]}.{values[1]}.svc"
        )


def database_labels(args: DatabaseArgs) -> dict[str, str]:
    """The stack's labels as the database's own (name postgresql, its instance, component database), without a
    version: the Secret and the claims do not change with the PostgreSQL image."""
    labels = {**args.labels, **database_selector(args.instance), "app.kubernetes.io/component": "database"}
    labels.pop("app.kubernetes.io/version", None)
    return labels


def server_pod() -> tuple[tuple[Requirements, ...], tuple[Requirements, ...]]:
    """The in-cluster server pod's containers and init containers, as their `resources` fields."""
    return (SERVER_RESOURCES,), (SYNC_PASSWORD_RESOURCES,)


def database_selector(instance: str) -> dict[str, str]:
    """The labels that select the in-cluster PostgreSQL pods; disjoint from the service's selector."""
    return {"app.kubernetes.io/name": "postgresql", INSTANCE_LABEL: instance}
