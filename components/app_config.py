"""The service's own configuration: the ConfigMap entries it reads (app/README.md "Configuration"), and the
graceful-shutdown timeline that the ConfigMap (drain, timeout) and the pod (preStop, grace period) share.

`base_config` names the entries the program owns; other components add theirs (the database's connection
settings, the path of the API keys file) through ServiceWorkloadArgs.extra_config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from components.labels import APP_NAME

# The port the service listens on (its PORT entry): the container's port HTTP_PORT_NAME, the Service's port, the
# HTTPRoute's backend port and the scrape port.
HTTP_PORT = 8080
# The name of that port on the container and the Service: the Ingress backend, the ServiceMonitor, the probes and
# the NetworkPolicy refer to it by name.
HTTP_PORT_NAME = "http"
# The ConfigMap the service reads its environment from (make verify reads it too).
CONFIG_MAP_NAME = f"{APP_NAME}-config"


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
