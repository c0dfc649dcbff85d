"""Field validators of the settings: each takes one config value and raises ValueError saying what is allowed.

pydantic reports a ValueError as `wal-service:<key> = <value> is invalid: <message>`; the checks that need
several keys at once are the Settings model's own (components/settings.py).
"""

from __future__ import annotations

import ipaddress
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from kubernetes.utils.quantity import parse_quantity
from pydantic import AfterValidator, BeforeValidator, Field

from components.image_ref import image_ref
from components.stack_config import ROOT

_DNS_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS_1123_LABEL = re.compile(rf"^{_DNS_LABEL}$")
_DNS_1123_SUBDOMAIN = re.compile(rf"^{_DNS_LABEL}(\.{_DNS_LABEL})*$")
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")
_ANNOTATION_KEY = re.compile(r"^([a-z0-9.-]+/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_MINOR_VERSION = re.compile(r"^1\.(\d+)$")
# Path rewriting hands the service other paths than the client sent (valid endpoints answer 404).
_REWRITE_ANNOTATIONS = (
    "nginx.ingress.kubernetes.io/rewrite-target",
    "nginx.ingress.kubernetes.io/use-regex",
)
# ConfigMap keys the program owns; feature flags may not shadow them.
BASE_CONFIG_KEYS = frozenset(
    {
        "APP_NAME",
        "APP_ENV",
        "LOG_LEVEL",
        "PORT",
        "DRAIN_SECONDS",
        "SHUTDOWN_TIMEOUT_SECONDS",
        "MAX_BODY_BYTES",
        "MAX_JSON_DEPTH",
        "MAX_HEADER_BYTES",
        "MAX_INFLIGHT_BYTES",
        "MAX_CONNECTIONS",
        "HEADER_READ_TIMEOUT_SECONDS",
        "BODY_READ_TIMEOUT_SECONDS",
        "DATABASE_HOST",
        "DATABASE_PORT",
        "DATABASE_NAME",
        "DATABASE_USER",
        "DATABASE_SSLMODE",
        "DATABASE_PASSWORD",
        "API_KEYS_FILE",
        "AUTH",
    }
)
# Namespaces Kubernetes itself uses: a default-deny policy and Pod Security labels there break the cluster.
SYSTEM_NAMESPACES = frozenset({"default", "kube-system", "kube-public", "kube-node-lease"})


def amount(quantity: str) -> Decimal:
    """The numeric value of a Kubernetes quantity (raises ValueError for a malformed one)."""
    value: Decimal = parse_quantity(quantity)  # type: ignore[no-untyped-call]
    return value


def dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_1123_LABEL.match(value):
        raise ValueError("must be a DNS-1123 label: lower-case letters, digits and '-', at most 63 characters")
    return value


def dns_label_or_empty(value: str) -> str:
    return value and dns_label(value)


def own_namespace(value: str) -> str:
    dns_label_or_empty(value)
    if value in SYSTEM_NAMESPACES or value.startswith("kube-"):
        raise ValueError(
            "is a Kubernetes system namespace; the stack puts default-deny NetworkPolicies and Pod Security labels "
            "on its namespace, which would cut off the cluster's own pods. Leave it empty (wal-service-<stack>) "
            "or name one of your own (https://kubernetes.io/docs/concepts/overview/working-with-objects/namespaces/)"
        )
    return value


def backend_url(value: str) -> str:
    if value and not re.fullmatch(r"(https?|file|s3|gs|azblob)://\S+", value):
        raise ValueError(
            "must be a backend URL as `pulumi login` takes it: https://api.pulumi.com, s3://<bucket>, gs://<bucket>, "
            "azblob://<container> or file://<path> (https://www.pulumi.com/docs/iac/concepts/state-and-backends/)"
        )
    return value.rstrip("/")


def dns_subdomain(value: str) -> str:
    if len(value) > 253 or not _DNS_1123_SUBDOMAIN.match(value):
        raise ValueError("must be a DNS name (RFC 1123): lower-case labels of letters, digits and '-', joined by '.'")
    return value


def dns_subdomain_or_empty(value: str) -> str:
    return value and dns_subdomain(value)


def host_name(value: str) -> str:
    dns_subdomain(value)
    if "." not in value or re.fullmatch(r"[0-9.]+", value):
        raise ValueError("must be a fully qualified host name such as dev.wal-service.local, not a bare label or IP")
    return value


def positive_quantity(value: str) -> str:
    try:
        parsed = amount(value)
    except ValueError:
        raise ValueError("must be a Kubernetes quantity such as 250m, 0.5, 256Mi or 1Gi") from None
    if parsed <= 0:
        raise ValueError("must be a positive Kubernetes quantity")
    return value


def positive_quantity_or_empty(value: str) -> str:
    return value and positive_quantity(value)


def registry_server(value: str) -> str:
    name, _, port = value.partition(":")
    if value and (not _DNS_1123_SUBDOMAIN.match(name) or (port and not port.isdigit())):
        raise ValueError("must be a registry host[:port] such as registry.example.com or localhost:5000")
    return value


def cidr_or_empty(value: str) -> str:
    if value:
        try:
            ipaddress.ip_network(value, strict=True)
        except ValueError:
            raise ValueError("must be a CIDR such as 10.20.0.0/16 or 10.20.0.5/32") from None
    return value


def http_path(value: str) -> str:
    if not re.fullmatch(r"/[A-Za-z0-9/._~-]*", value):
        raise ValueError("must be an absolute HTTP path such as /api/v1/health")
    return value


def minor_version(value: str) -> str:
    match = _MINOR_VERSION.match(value)
    if not match or not 25 <= int(match.group(1)) <= 37:
        raise ValueError("must be a Kubernetes minor version between 1.25 and 1.37, such as 1.35")
    return value


def json_list(value: Any) -> Any:
    # Structured config reaches the program as a JSON string.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("must be a YAML list of strings") from None
    return value


def feature_flag_entries(values: list[str]) -> list[str]:
    for entry in values:
        name, sep, _ = entry.partition("=")
        if not sep or not _ENV_NAME.match(name):
            raise ValueError(f"entry {entry!r} must look like NAME=value with NAME in UPPER_SNAKE_CASE")
        if name == "AUTH":
            raise ValueError(
                f"entry {entry!r}: every stack authenticates its clients, AUTH is the program's (AUTH=disabled "
                "is for local runs of the service only); clients get keys from generateApiKey and apiKeys"
            )
        if name in BASE_CONFIG_KEYS:
            raise ValueError(f"entry {entry!r} would override the program-owned key {name}")
    return values


def annotation_entries(values: list[str]) -> list[str]:
    for entry in values:
        key, sep, _ = entry.partition("=")
        if not sep or not _ANNOTATION_KEY.match(key):
            raise ValueError(f"entry {entry!r} must look like key=value with a valid annotation key")
        if key.startswith("nginx.ingress.kubernetes.io/") and key.endswith("-snippet"):
            raise ValueError(
                f"{key} injects raw NGINX configuration into the shared controller, a known way to read every "
                "Secret the controller can see (CVE-2021-25742); ingress-nginx refuses snippets by default. Use the "
                "dedicated annotation for the setting instead "
                "(https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/)"
            )
        if key in _REWRITE_ANNOTATIONS:
            raise ValueError(
                f"{key} rewrites request paths, so the service receives other paths than the client sent and "
                "valid endpoints answer 404. Serve the app under / with pathType Prefix instead "
                "(https://kubernetes.io/docs/concepts/services-networking/ingress/#path-types)"
            )
    return values


def label_entries(values: list[str]) -> list[str]:
    for entry in values:
        key, sep, value = entry.partition("=")
        if (
            not sep
            or not _ANNOTATION_KEY.match(key)
            or not re.fullmatch(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?", value)
        ):
            raise ValueError(f"entry {entry!r} must look like key=value with a valid label key and value")
    return values


def https_url_or_empty(value: str) -> str:
    if value and not re.fullmatch(r"https://[^\s/]+(/\S*)?", value):
        raise ValueError("must be an https:// URL such as https://pypi.example.com/simple (pip checks its certificate)")
    return value


_PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----"


def pip_ca_path(value: str, root: Path = ROOT) -> Path:
    """Where pipCaFile points: relative paths from the project directory, as `pulumi` runs the program there."""
    return root / Path(value).expanduser()


def pem_file_or_empty(value: str) -> str:
    if value:
        try:
            text = pip_ca_path(value).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"must name a readable PEM file of CA certificates: {exc}") from None
        if _PEM_CERTIFICATE not in text:
            raise ValueError(f"must name a PEM file of CA certificates: it holds no {_PEM_CERTIFICATE} block")
    return value


# The field types of the Settings model.
DnsLabel = Annotated[str, AfterValidator(dns_label)]
DnsLabelOrEmpty = Annotated[str, AfterValidator(dns_label_or_empty)]
OwnNamespace = Annotated[str, AfterValidator(own_namespace)]
DnsSubdomain = Annotated[str, AfterValidator(dns_subdomain)]
DnsSubdomainOrEmpty = Annotated[str, AfterValidator(dns_subdomain_or_empty)]
Host = Annotated[str, AfterValidator(host_name)]
BackendUrl = Annotated[str, AfterValidator(backend_url)]
MinorVersion = Annotated[str, AfterValidator(minor_version)]
ImageRef = Annotated[str, AfterValidator(image_ref)]
HttpsUrlOrEmpty = Annotated[str, AfterValidator(https_url_or_empty)]
PemFileOrEmpty = Annotated[str, AfterValidator(pem_file_or_empty)]
RegistryServer = Annotated[str, AfterValidator(registry_server)]
CidrOrEmpty = Annotated[str, AfterValidator(cidr_or_empty)]
Quantity = Annotated[str, AfterValidator(positive_quantity)]
QuantityOrEmpty = Annotated[str, AfterValidator(positive_quantity_or_empty)]
HttpPath = Annotated[str, AfterValidator(http_path)]
StrList = Annotated[list[str], BeforeValidator(json_list)]
FeatureFlags = Annotated[StrList, AfterValidator(feature_flag_entries)]
Annotations = Annotated[StrList, AfterValidator(annotation_entries)]
Labels = Annotated[StrList, AfterValidator(label_entries)]
Seconds = Annotated[int, Field(ge=0, le=3600)]
PositiveSeconds = Annotated[int, Field(ge=1, le=3600)]
Port = Annotated[int, Field(ge=1, le=65535)]
# PostgreSQL identifiers as the service passes them unquoted.
PgIdentifier = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_]{0,62}$")]
