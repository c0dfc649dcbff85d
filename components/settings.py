"""The Settings model: one stack's config, read once at the edge into frozen, typed settings.

Pulumi.yaml declares every key with its default; the CLI merges those defaults
with the stack file and hands the program one flat map (PULUMI_CONFIG).
`parse_settings` validates that map completely before any resource exists (each
value by its field's type, components/validators.py, then the values against
each other, Settings.conflicts) and turns every problem into one
`pulumi.RunError` line naming the key. What needs the project's other stacks or
the state backend is components/stack_checks.py, whose `load_settings` and
`stack_settings` are how the program, ops and tools get a stack's settings.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Literal

import pulumi
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from components.stack_config import PROJECT, kind_kubeconfig_path
from components.validators import (
    Annotations,
    BackendUrl,
    CidrOrEmpty,
    DnsLabel,
    DnsLabelOrEmpty,
    DnsSubdomain,
    DnsSubdomainOrEmpty,
    FeatureFlags,
    Host,
    HttpPath,
    HttpsUrlOrEmpty,
    ImageRef,
    Labels,
    MinorVersion,
    OwnNamespace,
    PemFileOrEmpty,
    PgIdentifier,
    Port,
    PositiveSeconds,
    Quantity,
    QuantityOrEmpty,
    RegistryServer,
    Seconds,
    amount,
    pip_ca_path,
)

# Keys that hold credentials: they must arrive encrypted (`pulumi config set --secret`).
SECRET_KEYS = frozenset({"databasePassword", "registryPassword", "apiKeys"})
# The error type of a conflict between values (Settings.conflicts).
CONFLICT = "conflict"
# libpq sslmodes that refuse a server without a certificate, such as the in-cluster PostgreSQL.
TLS_ONLY_SSL_MODES = frozenset({"require", "verify-ca", "verify-full"})


class Settings(BaseModel):
    """Everything one stack needs, validated. Field aliases are the config keys."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=False, populate_by_name=False)

    stack: str = Field(exclude=True)
    # state
    state_backend: BackendUrl = Field(alias="stateBackend")
    # cluster target
    cluster_mode: Literal["kind", "existing"] = Field(alias="clusterMode")
    kubeconfig: str = Field(alias="kubeconfig")
    kube_context: str = Field(alias="kubeContext")
    kubernetes_version: MinorVersion = Field(alias="kubernetesVersion")
    # image
    image_ref: ImageRef = Field(alias="imageRef")
    python_image: ImageRef = Field(alias="pythonImage")
    pip_index_url: HttpsUrlOrEmpty = Field(alias="pipIndexUrl")
    pip_ca_file: PemFileOrEmpty = Field(alias="pipCaFile")
    # workload
    namespace_override: OwnNamespace = Field(alias="namespace")
    app_env: DnsLabel = Field(alias="appEnv")
    log_level: Literal["debug", "info", "warning", "error"] = Field(alias="logLevel")
    feature_flags: FeatureFlags = Field(alias="featureFlags")
    replicas: int = Field(alias="replicas", ge=1, le=100)
    autoscaling: bool = Field(alias="autoscaling")
    min_replicas: int = Field(alias="minReplicas", ge=1, le=100)
    max_replicas: int = Field(alias="maxReplicas", ge=1, le=100)
    target_cpu_utilization: int = Field(alias="targetCpuUtilization", ge=10, le=100)
    cpu_request: Quantity = Field(alias="cpuRequest")
    cpu_limit: Quantity = Field(alias="cpuLimit")
    memory_request: Quantity = Field(alias="memoryRequest")
    memory_limit: Quantity = Field(alias="memoryLimit")
    ephemeral_storage_request: Quantity = Field(alias="ephemeralStorageRequest")
    ephemeral_storage_limit: Quantity = Field(alias="ephemeralStorageLimit")
    health_path: HttpPath = Field(alias="healthPath")
    ready_path: HttpPath = Field(alias="readyPath")
    startup_budget_seconds: Annotated[int, Field(ge=2, le=3600)] = Field(alias="startupBudgetSeconds")
    pre_stop_seconds: Seconds = Field(alias="preStopSeconds")
    drain_seconds: Seconds = Field(alias="drainSeconds")
    shutdown_timeout_seconds: PositiveSeconds = Field(alias="shutdownTimeoutSeconds")
    termination_grace_period_seconds: PositiveSeconds = Field(alias="terminationGracePeriodSeconds")
    max_body_bytes: int = Field(alias="maxBodyBytes", ge=1024, le=64 * 1024 * 1024)
    # limits against hostile clients; ranges as the service's own (app/README.md)
    max_json_depth: int = Field(alias="maxJsonDepth", ge=1, le=512)
    max_header_bytes: int = Field(alias="maxHeaderBytes", ge=1024, le=1024 * 1024)
    max_inflight_bytes: int = Field(alias="maxInflightBytes", ge=1024, le=4 * 1024 * 1024 * 1024)
    max_connections: int = Field(alias="maxConnections", ge=1, le=1_000_000)
    header_read_timeout_seconds: PositiveSeconds = Field(alias="headerReadTimeoutSeconds")
    body_read_timeout_seconds: PositiveSeconds = Field(alias="bodyReadTimeoutSeconds")
    # routing
    host: Host = Field(alias="host")
    routing: Literal["gateway", "ingress"] = Field(alias="routing")
    gateway_class_name: DnsSubdomainOrEmpty = Field(alias="gatewayClassName")
    gateway_api_crds: str = Field(alias="gatewayApiCrds", min_length=1)
    gateway_chart: str = Field(alias="gatewayChart", min_length=1)
    gateway_name: DnsSubdomain = Field(alias="gatewayName")
    gateway_namespace: DnsLabel = Field(alias="gatewayNamespace")
    ingress_class_name: DnsLabel = Field(alias="ingressClassName")
    ingress_annotations: Annotations = Field(alias="ingressAnnotations")
    ingress_controller_namespace: DnsLabel = Field(alias="ingressControllerNamespace")
    tls_secret_name: DnsLabelOrEmpty = Field(alias="tlsSecretName")
    # local platform
    kind_cluster_name: DnsLabel = Field(alias="kindClusterName")
    kind_node_image: ImageRef = Field(alias="kindNodeImage")
    kind_workers: int = Field(alias="kindWorkers", ge=0, le=5)
    ingress_http_port: Port = Field(alias="ingressHttpPort")
    ingress_https_port: Port = Field(alias="ingressHttpsPort")
    # registry
    registry_mode: Literal["local", "external"] = Field(alias="registryMode")
    registry_name: DnsLabel = Field(alias="registryName")
    registry_port: Port = Field(alias="registryPort")
    registry_image: ImageRef = Field(alias="registryImage")
    registry_server: RegistryServer = Field(alias="registryServer")
    registry_username: str = Field(alias="registryUsername", max_length=256)
    # database
    database_mode: Literal["in-cluster", "external"] = Field(alias="databaseMode")
    database_image: ImageRef = Field(alias="databaseImage")
    database_storage_size: Quantity = Field(alias="databaseStorageSize")
    database_retain_on_delete: bool = Field(alias="databaseRetainOnDelete")
    database_host: DnsSubdomainOrEmpty = Field(alias="databaseHost")
    database_port: Port = Field(alias="databasePort")
    database_name: PgIdentifier = Field(alias="databaseName")
    database_user: PgIdentifier = Field(alias="databaseUser")
    database_ssl_mode: Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] = Field(
        alias="databaseSslMode"
    )
    database_cidr: CidrOrEmpty = Field(alias="databaseCidr")
    # namespace budget
    resource_quota: bool = Field(alias="resourceQuota")
    quota_headroom_percent: int = Field(alias="quotaHeadroomPercent", ge=0, le=400)
    quota_cpu: QuantityOrEmpty = Field(alias="quotaCpu")
    quota_memory: QuantityOrEmpty = Field(alias="quotaMemory")
    # metrics
    monitoring: Literal["none", "annotations", "servicemonitor"] = Field(alias="monitoring")
    monitoring_namespace: DnsLabel = Field(alias="monitoringNamespace")
    service_monitor_labels: Labels = Field(alias="serviceMonitorLabels")
    # local registry clean-up
    registry_keep_revisions: int = Field(alias="registryKeepRevisions", ge=1, le=100)
    registry_gc_after_up: bool = Field(alias="registryGcAfterUp")
    # API keys (apiKeys itself is a secret, read by load_api_keys)
    generate_api_key: bool = Field(alias="generateApiKey")

    @model_validator(mode="after")
    def _no_conflict(self) -> Settings:
        # pydantic stops at an error raised here: the first conflict is the one reported.
        conflict = next(self.conflicts(), None)
        if conflict:
            key, message = conflict
            raise PydanticCustomError(CONFLICT, "{message}", {"key": key, "message": message})
        return self

    def conflicts(self) -> Iterator[tuple[str, str]]:
        """Values that are valid alone but not together: (config key, what is wrong) for each, in check order."""
        if amount(self.cpu_limit) < amount(self.cpu_request):
            yield "cpuLimit", f"{self.cpu_limit!r} is below cpuRequest {self.cpu_request!r}; limits must be >= requests"
        if amount(self.memory_limit) < amount(self.memory_request):
            yield (
                "memoryLimit",
                f"{self.memory_limit!r} is below memoryRequest {self.memory_request!r}; limits must be >= requests",
            )
        if amount(self.ephemeral_storage_limit) < amount(self.ephemeral_storage_request):
            yield (
                "ephemeralStorageLimit",
                f"{self.ephemeral_storage_limit!r} is below ephemeralStorageRequest "
                f"{self.ephemeral_storage_request!r}; limits must be >= requests",
            )
        if self.min_replicas > self.max_replicas:
            yield (
                "minReplicas",
                f"{self.min_replicas} is above maxReplicas {self.max_replicas}; the HPA needs min <= max",
            )
        needed = self.pre_stop_seconds + self.drain_seconds + self.shutdown_timeout_seconds
        if self.termination_grace_period_seconds <= needed:
            yield (
                "terminationGracePeriodSeconds",
                f"{self.termination_grace_period_seconds} must exceed preStopSeconds + drainSeconds + "
                f"shutdownTimeoutSeconds = {needed}, or the kubelet kills pods mid-drain",
            )
        if self.max_inflight_bytes < self.max_body_bytes:
            yield (
                "maxInflightBytes",
                f"{self.max_inflight_bytes} is below maxBodyBytes {self.max_body_bytes}; "
                "the largest body could never be read",
            )
        if self.app_env == "production" and not self.tls_secret_name:
            yield "tlsSecretName", "is empty but appEnv is production; production traffic must use TLS"
        if self.cluster_mode == "kind" and (self.kubeconfig or self.kube_context):
            yield "kubeconfig", "applies to clusterMode existing only; a kind cluster brings its own kubeconfig"
        if self.cluster_mode == "existing" and self.registry_mode == "local":
            yield "registryMode", "is local but clusterMode is existing; a local registry serves kind clusters only"
        if self.registry_mode == "external" and not self.registry_server and not self.image_ref:
            yield "registryServer", "is empty but registryMode is external and no imageRef is given"
        if self.cluster_mode == "kind" and self.routing == "ingress":
            yield (
                "routing",
                "is ingress but clusterMode is kind; a kind stack routes through the Gateway API controller it "
                "installs (ingress-nginx, the Ingress controller it used to install, was retired upstream in March "
                "2026). Set routing to gateway, or use routing ingress on an existing cluster that has an Ingress "
                "controller (https://kind.sigs.k8s.io/docs/user/ingress/)",
            )
        if self.cluster_mode == "kind" and not self.gateway_class_name:
            yield (
                "gatewayClassName",
                "is empty but clusterMode is kind; a kind stack creates its own Gateway of the class its controller "
                "serves (default nginx). A shared Gateway only exists on an existing cluster",
            )
        if self.routing == "gateway" and self.ingress_annotations:
            yield (
                "ingressAnnotations",
                "is set but routing is gateway, where no Ingress exists for them to annotate; remove them "
                "(an HTTPRoute has no annotations that change routing)",
            )
        gateway_ports = [port for key, port in self.kind_host_ports if key != "registryPort"]
        if self.cluster_mode == "kind" and self.https_listener and self.ingress_http_port == self.ingress_https_port:
            yield "ingressHttpsPort", f"{self.ingress_https_port} is also ingressHttpPort; the two need distinct ports"
        if self.registry_mode == "local" and self.registry_port in gateway_ports:
            yield (
                "registryPort",
                f"{self.registry_port} is also the Gateway's host port (ingressHttpPort/ingressHttpsPort)",
            )
        if self.database_mode == "external":
            for key, value in (("databaseHost", self.database_host), ("databaseCidr", self.database_cidr)):
                if not value:
                    yield key, "is empty but databaseMode is external; it is required there"
        if self.database_mode == "in-cluster" and self.database_ssl_mode in TLS_ONLY_SSL_MODES:
            yield (
                "databaseSslMode",
                f"{self.database_ssl_mode!r} needs TLS, which the in-cluster PostgreSQL does not serve, so the "
                "service could never connect; use disable, allow or prefer (or databaseMode external)",
            )
        # The namespace whose pods route traffic to the service: default-deny there would cut them off.
        router_key, router_namespace = (
            ("gatewayNamespace", self.gateway_namespace)
            if self.routing == "gateway"
            else ("ingressControllerNamespace", self.ingress_controller_namespace)
        )
        if self.namespace_override and self.namespace_override == router_namespace:
            yield (
                "namespace",
                f"{self.namespace_override!r} is also {router_key}; the stack's default-deny policies would cut off "
                "the pods that route traffic to the service. Give the service a namespace of its own",
            )
        if self.registry_gc_after_up and self.registry_mode != "local":
            yield (
                "registryGcAfterUp",
                "is true but registryMode is external; the clean-up deletes from the stack's local registry only",
            )
        if self.cluster_mode == "existing" and not self.kube_context:
            yield (
                "kubeContext",
                "is empty but clusterMode is existing; name the context explicitly so a stack never deploys "
                "to whatever cluster kubectl currently points at",
            )

    # -- derived values ------------------------------------------------------
    @property
    def pip_extra_ca_pem(self) -> str:
        """pipCaFile's certificates, as the image build takes them; empty when unset."""
        return pip_ca_path(self.pip_ca_file).read_text() if self.pip_ca_file else ""

    @property
    def namespace(self) -> str:
        return self.namespace_override or f"{PROJECT}-{self.stack}"

    @property
    def kubernetes_minor(self) -> int:
        """The cluster's Kubernetes minor version, e.g. 37 for 1.37."""
        return int(self.kubernetes_version.split(".")[1])

    @property
    def kubeconfig_file(self) -> str:
        """The kubeconfig ops and kubectl read: a kind stack's own file, else wal-service:kubeconfig ("" means
        kubectl's rules: $KUBECONFIG, a path list included, else ~/.kube/config)."""
        if self.cluster_mode == "kind":
            return str(kind_kubeconfig_path(self.kind_cluster_name))
        return self.kubeconfig

    @property
    def kubectl(self) -> str:
        """kubectl aimed at the stack's cluster by file and context, never at the current context."""
        context = f"kind-{self.kind_cluster_name}" if self.cluster_mode == "kind" else self.kube_context
        kubeconfig = f" --kubeconfig {shlex.quote(self.kubeconfig_file)}" if self.kubeconfig_file else ""
        return f"kubectl{kubeconfig} --context {context}"

    @property
    def https_listener(self) -> bool:
        """The Gateway has an HTTPS listener: only with a TLS secret to terminate it."""
        return bool(self.tls_secret_name)

    @property
    def kind_host_ports(self) -> list[tuple[str, int]]:
        """(config key, port) of every port a kind stack binds on 127.0.0.1: a Gateway listener's, and the local
        registry's. A listener that does not exist has no port to map or to find free."""
        if self.cluster_mode != "kind":
            return []
        ports = [("ingressHttpPort", self.ingress_http_port)]
        if self.https_listener:
            ports.append(("ingressHttpsPort", self.ingress_https_port))
        if self.registry_mode == "local":
            ports.append(("registryPort", self.registry_port))
        return ports

    @property
    def ingress_port(self) -> int:
        """The host port that reaches the service's route: kind maps it on 127.0.0.1, other clusters serve 80/443."""
        if self.cluster_mode == "kind":
            return self.ingress_https_port if self.https_listener else self.ingress_http_port
        return 443 if self.tls_secret_name else 80

    @property
    def url(self) -> str:
        """The URL a browser uses, with the host port when it is not the scheme's default."""
        scheme = "https" if self.tls_secret_name else "http"
        port = "" if self.ingress_port == (443 if self.tls_secret_name else 80) else f":{self.ingress_port}"
        return f"{scheme}://{self.host}{port}/"


def _describe(error: ErrorDetails) -> tuple[str, str]:
    """(config key, what is wrong) for one error pydantic reports."""
    if error["type"] == CONFLICT:
        context = error.get("ctx") or {}
        return str(context["key"]), str(context["message"])
    loc = error["loc"]
    key = str(loc[0]) if loc else "?"
    if error["type"] == "extra_forbidden":
        return key, "is not a known key (declared keys are listed in Pulumi.yaml); remove it or fix its name"
    if error["type"] == "missing":
        return key, "is not set; set it in Pulumi.<stack>.yaml (it has no default on purpose)"
    message = error["msg"].removeprefix("Value error, ")
    return key, f"= {error['input']!r} is invalid: {message}"


def parse_settings(values: Mapping[str, Any], stack: str) -> Settings:
    """Validate a config map; raise `pulumi.RunError` naming every bad key in one line."""
    plain = {key: value for key, value in values.items() if key not in SECRET_KEYS}
    try:
        return Settings.model_validate({**plain, "stack": stack})
    except ValidationError as exc:
        problems = sorted({f"{PROJECT}:{key} {message}" for key, message in map(_describe, exc.errors())})
        raise pulumi.RunError("; ".join(problems)) from None
