"""Stack configuration, read once at the edge into frozen, typed settings.

Pulumi.yaml declares every key with its default; the CLI merges those defaults
with the stack file and hands the program one flat map (PULUMI_CONFIG).
`load_settings` validates that map completely before any resource exists and
turns every problem into one `pulumi.RunError` line naming the key.
"""

from __future__ import annotations

import json
import os
import re
import shlex
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import pulumi
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import ErrorDetails, PydanticCustomError

from components.image_ref import PLACEHOLDER_DIGEST
from components.stack_config import (
    PROJECT,
    ROOT,
    ConfigError,
    engine_config,
    engine_values,
    kind_kubeconfig_path,
    load_stack_config,
    project_values,
    stack_names,
)
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
    ImageRef,
    Labels,
    MinorVersion,
    OwnNamespace,
    PgIdentifier,
    Port,
    PositiveSeconds,
    Quantity,
    QuantityOrEmpty,
    RegistryServer,
    Seconds,
    amount,
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


# Where the program's explicit providers take their settings from, for the message about an inert provider key.
PROVIDER_SOURCES = {
    "kubernetes": "wal-service:* keys (kubeContext, kubeconfig)",
    "docker": "the docker CLI's endpoint (DOCKER_HOST, or its current context: `docker context use` picks it)",
}


def inert_keys(config: Mapping[str, str]) -> list[str]:
    """Config keys of a provider whose default provider is disabled: they configure nothing."""
    try:
        disabled = set(json.loads(config.get("pulumi:disable-default-providers") or "[]"))
    except json.JSONDecodeError:
        disabled = set()
    problems = []
    for key in sorted(config):
        namespace = key.partition(":")[0]
        if namespace in (PROJECT, "pulumi") or not (namespace in disabled or "*" in disabled):
            continue
        source = PROVIDER_SOURCES.get(namespace, "the program's own settings")
        problems.append(
            f"{key} has no effect: the default {namespace} provider is disabled (pulumi:disable-default-providers "
            f"in Pulumi.yaml), every {namespace} resource uses the provider the program builds from {source}; "
            f"remove it: pulumi config rm {key} --stack <stack>"
        )
    return problems


def _host_claims(settings: Settings) -> dict[str, Any]:
    """What a stack claims on the machine that runs it: names and 127.0.0.1 ports (kind stacks only)."""
    if settings.cluster_mode != "kind":
        return {}
    claims: dict[str, Any] = {
        "kindClusterName": settings.kind_cluster_name,
        "ingressHttpPort": settings.ingress_http_port,
        "ingressHttpsPort": settings.ingress_https_port,
    }
    if settings.registry_mode == "local":
        claims |= {"registryName": settings.registry_name, "registryPort": settings.registry_port}
    return claims


_PORT_KEYS = frozenset({"ingressHttpPort", "ingressHttpsPort", "registryPort"})


def collisions(settings: Settings, others: Mapping[str, Settings]) -> list[str]:
    """Names, host ports and host names this stack shares with another stack of the project."""
    problems = []
    mine = _host_claims(settings)
    for other_stack, other in sorted(others.items()):
        theirs = _host_claims(other)
        for key, value in mine.items():
            clash = [
                other_key
                for other_key, other_value in theirs.items()
                if other_value == value and (other_key == key or {key, other_key} <= _PORT_KEYS)
            ]
            if clash:
                problems.append(
                    f"{PROJECT}:{key} {value!r} is also stack {other_stack}'s {clash[0]} (Pulumi.{other_stack}.yaml); "
                    "kind stacks run side by side on one Docker host and each needs its own: "
                    f"pulumi config set {PROJECT}:{key} <another> --stack {settings.stack}"
                )
        if settings.host == other.host:
            problems.append(
                f"{PROJECT}:host {settings.host!r} is also stack {other_stack}'s (Pulumi.{other_stack}.yaml); one host "
                f"name must lead to one stack: pulumi config set {PROJECT}:host <another> --stack {settings.stack}"
            )
    return problems


def sibling_settings(stack: str, root: Path = ROOT) -> dict[str, Settings]:
    """The project's other stacks, as their files say; a stack whose files are invalid reports that itself."""
    siblings = {}
    for name in stack_names(root):
        if name == stack:
            continue
        try:
            config, _ = load_stack_config(name, root=root)
            siblings[name] = parse_settings(project_values(config), name)
        except (ConfigError, pulumi.RunError):
            continue
    return siblings


def project_backend(root: Path = ROOT) -> str:
    """Pulumi.yaml's backend.url ("" when it names none)."""
    doc = yaml.safe_load((root / "Pulumi.yaml").read_text()) or {}
    return str((doc.get("backend") or {}).get("url") or "")


def effective_backend(environ: Mapping[str, str], root: Path = ROOT) -> str:
    """The backend the CLI runs against: PULUMI_BACKEND_URL, else Pulumi.yaml's backend.url.

    The CLI's order (pkg/workspace/creds.go, GetCurrentCloudURLWithSource); the backend of `pulumi login`
    comes last and so never applies while Pulumi.yaml names one.
    """
    return environ.get("PULUMI_BACKEND_URL") or project_backend(root)


def backend_problem(settings: Settings, backend: str) -> str | None:
    """One line when the stack's state must live elsewhere than `backend`."""
    if not settings.state_backend or backend.rstrip("/") == settings.state_backend:
        return None
    return (
        f"{PROJECT}:stateBackend: stack {settings.stack} keeps its state in {settings.state_backend}, but this run "
        f"uses {backend or 'no backend'}, where it would be a second, empty stack; run it against the shared one: "
        f"export PULUMI_BACKEND_URL={settings.state_backend} "
        "(https://www.pulumi.com/docs/iac/concepts/state-and-backends/)"
    )


def _checked(settings: Settings, config: Mapping[str, str], root: Path, extra: list[str]) -> Settings:
    problems = inert_keys(config) + collisions(settings, sibling_settings(settings.stack, root)) + extra
    if problems:
        raise pulumi.RunError("; ".join(problems))
    return settings


def promote_command(settings: Settings) -> str | None:
    """When imageRef is the all-zero placeholder digest (a stack file before its first promotion), the command that
    promotes what staging tested instead. No registry serves that digest: the pods would never pull it."""
    if not settings.image_ref.endswith(PLACEHOLDER_DIGEST):
        return None
    repository = settings.image_ref.removesuffix(PLACEHOLDER_DIGEST)
    return (
        f'pulumi config set {PROJECT}:imageRef "{repository}@$(pulumi stack output imageDigest -s staging)" '
        f"-s {settings.stack}"
    )


def load_settings(root: Path = ROOT, environ: Mapping[str, str] | None = None) -> Settings:
    """The running program's settings, from the config the engine passed, checked against the other stacks
    and the state backend this run uses."""
    settings = parse_settings(engine_config(), pulumi.get_stack())
    backend = backend_problem(settings, effective_backend(os.environ if environ is None else environ, root))
    problems = [backend] if backend else []
    promote = promote_command(settings)
    if promote:
        problem = f"{PROJECT}:imageRef is the all-zero placeholder digest, which no registry serves; run: {promote}"
        # A pull request's preview of a stack not yet promoted still shows its plan; only `up` is refused.
        if pulumi.runtime.is_dry_run():
            pulumi.log.warn(problem)
        else:
            problems.append(problem)
    return _checked(settings, engine_values(), root, problems)


def stack_settings(stack: str, overrides: Mapping[str, Any] | None = None, root: Path = ROOT) -> Settings:
    """A stack's settings read from its files (plus overrides), for code that runs without the engine.

    Raises `stack_config.ConfigError` for unusable files and `pulumi.RunError` for invalid values.
    """
    config, _ = load_stack_config(stack, overrides, root=root)
    return _checked(parse_settings(project_values(config), stack), config, root, [])


def load_secret(key: str) -> pulumi.Output[str] | None:
    """A credential from stack config; None when unset. Plain-text values are refused."""
    full = f"{PROJECT}:{key}"
    if not engine_config().get(key):
        return None
    if not pulumi.runtime.config.is_config_secret(full):
        raise pulumi.RunError(
            f"{full} is stored in plain text; remove it and run: pulumi config set --secret {full} <value>"
        )
    return pulumi.Config(PROJECT).require_secret(key)


API_KEY_ROLES = ("reader", "writer")
# The key stacks generate (generateApiKey) is called this; configured keys need other names.
GENERATED_KEY_NAME = "generated"
_KEY_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
# RFC 6750 bearer token characters (what the service accepts); 32 characters at least, so no guessable key.
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/-]{32,512}={0,2}$")
NEW_TOKEN_COMMAND = "python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"


@dataclass(frozen=True)
class ApiKeyEntry:
    """One key of wal-service:apiKeys."""

    name: str
    role: str
    token: str = field(repr=False)


def parse_api_keys(raw: str) -> list[ApiKeyEntry]:
    """`name:role:token` entries separated by commas or white space. A ValueError names the entry by its position
    (and name, once that is valid), never by its text: it may hold a token."""
    entries: list[ApiKeyEntry] = []
    for position, text in enumerate((part for part in re.split(r"[,\s]+", raw) if part), start=1):
        name, role, token = ([*text.split(":", 2), "", ""])[:3]
        where = f"entry {position}"
        if text.count(":") != 2 or not _KEY_NAME.match(name):
            raise ValueError(
                f"{where} must be name:role:token, the name a lower-case DNS label (letters, digits and '-', at "
                "most 63 characters)"
            )
        where = f"entry {position} ({name})"
        if role not in API_KEY_ROLES:
            raise ValueError(f"{where} has role {role!r}; a key is a reader (GET) or a writer (GET and POST)")
        if not _TOKEN.match(token):
            raise ValueError(
                f"{where} needs a token of 32-512 characters of A-Z a-z 0-9 - . _ ~ + / (RFC 6750), such as what "
                f"{NEW_TOKEN_COMMAND} prints"
            )
        if name == GENERATED_KEY_NAME:
            raise ValueError(f"{where}: the name {GENERATED_KEY_NAME!r} belongs to the key generateApiKey makes")
        if any(entry.name == name for entry in entries):
            raise ValueError(f"{where}: the name appears twice; each key needs its own")
        if any(entry.token == token for entry in entries):
            raise ValueError(f"{where} has the same token as another entry; each key needs its own")
        entries.append(ApiKeyEntry(name, role, token))
    return entries


def load_api_keys(settings: Settings) -> list[ApiKeyEntry]:
    """The keys of wal-service:apiKeys, refused in plain text, malformed, or missing where the stack needs them."""
    full = f"{PROJECT}:apiKeys"
    fix = (
        f'pulumi config set --secret {full} "<name>:<reader|writer>:$({NEW_TOKEN_COMMAND})" -s {settings.stack} '
        "(more keys: comma-separated)"
    )
    raw = engine_config().get("apiKeys", "")
    if raw and not pulumi.runtime.config.is_config_secret(full):
        raise pulumi.RunError(
            f"{full} is stored in plain text, tokens included; remove it (pulumi config rm {full} -s "
            f"{settings.stack}), treat its tokens as leaked, and set new ones: {fix}"
        )
    try:
        entries = parse_api_keys(raw)
    except ValueError as exc:
        raise pulumi.RunError(f"{full}: {exc}; set it again: {fix}") from None
    if not entries and settings.app_env == "production":
        raise pulumi.RunError(
            f"{full} is not set but appEnv is production, where every client holds a key of its own, named "
            f"after it (the access log names the key behind each request); run: {fix}"
        )
    if not entries and not settings.generate_api_key:
        raise pulumi.RunError(
            f"{full} is empty and generateApiKey is false, so the service would know no key and refuse every "
            f"request under /api/v1/logs/; set generateApiKey to true or run: {fix}"
        )
    return entries
