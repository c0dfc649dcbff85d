"""Typed configuration read from environment variables, validated at start-up.

Only the variables listed in ``FIELDS`` and ``AUTH`` are read; every other variable is ignored.
"""

from __future__ import annotations

import resource
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .auth import ApiKey, parse_keys

LOG_LEVELS = ("debug", "info", "warning", "error")
SSL_MODES = ("disable", "allow", "prefer", "require", "verify-ca", "verify-full")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    app_env: str = "local"
    log_level: str = "info"
    port: int = 8080
    database_host: str = "127.0.0.1"
    database_port: int = 5432
    database_name: str = "wal"
    database_user: str = "wal"
    database_password: str = ""
    database_sslmode: str = "prefer"
    drain_seconds: float = 5.0
    shutdown_timeout_seconds: int = 10
    max_body_bytes: int = 1_048_576
    database_pool_size: int = 10
    # Limits against hostile or broken clients (see README "Limits").
    max_json_depth: int = 64
    max_header_bytes: int = 16_384
    max_inflight_bytes: int = 8 * 1_048_576
    max_connections: int = 512
    header_read_timeout_seconds: float = 10.0
    body_read_timeout_seconds: float = 30.0
    # Who may read and append (API_KEYS_FILE); no keys refuses every request under /api/v1/logs/.
    api_keys_file: str = ""
    api_keys: tuple[ApiKey, ...] = ()
    # AUTH=disabled: serve /api/v1/logs/ without keys (local runs and benchmarks only).
    auth_disabled: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        values: dict[str, Any] = {}
        for name, (attr, parse) in FIELDS.items():
            raw = env.get(name)
            if raw is None:
                continue
            try:
                values[attr] = parse(raw if attr == "database_password" else raw.strip())
            except ValueError as exc:
                raise ConfigError(f"{name}={raw!r} is invalid: {exc}") from None
        settings = cls(**values)
        if settings.max_inflight_bytes < settings.max_body_bytes:
            raise ConfigError(
                f"MAX_INFLIGHT_BYTES={settings.max_inflight_bytes} is invalid: must be at least "
                f"MAX_BODY_BYTES ({settings.max_body_bytes}), or a largest body could never be read"
            )
        return replace(settings, **_auth(env, settings.api_keys_file))

    def conninfo_kwargs(self) -> dict[str, Any]:
        return {
            "host": self.database_host,
            "port": self.database_port,
            "dbname": self.database_name,
            "user": self.database_user,
            "password": self.database_password,
            "sslmode": self.database_sslmode,
            "application_name": "wal-service",
            "connect_timeout": 5,
            # A host that stops answering (blackholed, not refusing) would otherwise keep
            # pooled connections open for the kernel's ~15 min retransmission timeout:
            # unacknowledged data or silent keepalives end them within seconds instead.
            "tcp_user_timeout": 10_000,
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }


def _auth(env: Mapping[str, str], path: str) -> dict[str, Any]:
    """AUTH and the keys of API_KEYS_FILE: keys are required unless AUTH=disabled says otherwise."""
    auth = env.get("AUTH", "required").strip().lower()
    if auth not in ("required", "disabled"):
        raise ConfigError(f"AUTH={env['AUTH']!r} is invalid: must be required or disabled")
    if auth == "disabled":
        if path:
            raise ConfigError(
                "AUTH='disabled' is invalid: API_KEYS_FILE is set too; keys are either checked or "
                "not, unset one of them"
            )
        return {"auth_disabled": True}
    if not path:
        raise ConfigError(
            "API_KEYS_FILE is not set: requests under /api/v1/logs/ need a key from it (one "
            "<name>:<role>:<sha256 hex of the token> per line); set AUTH=disabled to run without "
            "authentication (local runs and benchmarks only)"
        )
    return {"api_keys": load_keys_file(path)}


def load_keys_file(path: str) -> tuple[ApiKey, ...]:
    try:
        with open(path, encoding="utf-8") as keys_file:
            text = keys_file.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise ConfigError(f"API_KEYS_FILE={path!r} is unreadable: {reason}") from None
    try:
        return parse_keys(text)
    except ValueError as exc:
        raise ConfigError(f"API_KEYS_FILE={path!r} is invalid: {exc}") from None


# File descriptors needed besides client connections and the pool (listener, probe
# connections, logs, imports...).
FD_RESERVE = 64


def ensure_fd_limit(settings: Settings) -> None:
    """Raise the soft RLIMIT_NOFILE so that MAX_CONNECTIONS fits, or fail naming it."""
    need = settings.max_connections + settings.database_pool_size + FD_RESERVE
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= need:
        return
    if hard != resource.RLIM_INFINITY and hard < need:
        raise ConfigError(
            f"MAX_CONNECTIONS={settings.max_connections} is invalid: with "
            f"DATABASE_POOL_SIZE={settings.database_pool_size} it needs {need} file "
            f"descriptors but the limit (ulimit -n) is {hard}"
        )
    resource.setrlimit(resource.RLIMIT_NOFILE, (need, hard))


def _string(raw: str) -> str:
    if not raw:
        raise ValueError("must not be empty")
    return raw


def _any_string(raw: str) -> str:
    return raw


def _choice(choices: tuple[str, ...]) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.lower()
        if value not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return value

    return parse


def _int(low: int, high: int) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        try:
            value = int(raw, 10)
        except ValueError:
            raise ValueError("must be an integer") from None
        if not low <= value <= high:
            raise ValueError(f"must be between {low} and {high}")
        return value

    return parse


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(raw: str) -> float:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError("must be a number of seconds") from None
        if not low <= value <= high:  # also rejects nan
            raise ValueError(f"must be between {low:g} and {high:g}")
        return value

    return parse


FIELDS: dict[str, tuple[str, Callable[[str], Any]]] = {
    "APP_ENV": ("app_env", _string),
    "LOG_LEVEL": ("log_level", _choice(LOG_LEVELS)),
    "PORT": ("port", _int(1, 65535)),
    "DATABASE_HOST": ("database_host", _string),
    "DATABASE_PORT": ("database_port", _int(1, 65535)),
    "DATABASE_NAME": ("database_name", _string),
    "DATABASE_USER": ("database_user", _string),
    "DATABASE_PASSWORD": ("database_password", _any_string),
    "DATABASE_SSLMODE": ("database_sslmode", _choice(SSL_MODES)),
    "DRAIN_SECONDS": ("drain_seconds", _seconds(0, 3600)),
    "SHUTDOWN_TIMEOUT_SECONDS": ("shutdown_timeout_seconds", _int(0, 3600)),
    "MAX_BODY_BYTES": ("max_body_bytes", _int(1, 1 << 30)),
    "DATABASE_POOL_SIZE": ("database_pool_size", _int(1, 1000)),
    "MAX_JSON_DEPTH": ("max_json_depth", _int(1, 512)),
    "MAX_HEADER_BYTES": ("max_header_bytes", _int(1024, 1 << 20)),
    "MAX_INFLIGHT_BYTES": ("max_inflight_bytes", _int(1, 1 << 32)),
    "MAX_CONNECTIONS": ("max_connections", _int(1, 1_000_000)),
    "HEADER_READ_TIMEOUT_SECONDS": ("header_read_timeout_seconds", _seconds(0.1, 3600)),
    "BODY_READ_TIMEOUT_SECONDS": ("body_read_timeout_seconds", _seconds(0.1, 3600)),
    "API_KEYS_FILE": ("api_keys_file", _string),
}
