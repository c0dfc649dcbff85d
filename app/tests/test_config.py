"""Settings parsing (pure unit tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

from wal_service.config import ConfigError, Settings


def test_defaults() -> None:
    s = Settings.from_env({"AUTH": "disabled"})
    assert s == Settings(auth_disabled=True)
    # Built directly (as the tests do), settings know no key: /api/v1/logs/ refuses everyone.
    assert (Settings().api_keys, Settings().auth_disabled) == ((), False)
    assert (s.app_env, s.log_level, s.port) == ("local", "info", 8080)
    assert (s.database_host, s.database_port, s.database_name) == ("127.0.0.1", 5432, "wal")
    assert (s.database_user, s.database_password, s.database_sslmode) == ("wal", "", "prefer")
    assert (s.drain_seconds, s.shutdown_timeout_seconds) == (5, 10)
    assert (s.max_body_bytes, s.database_pool_size) == (1_048_576, 10)
    assert (s.max_json_depth, s.max_header_bytes, s.max_connections) == (64, 16_384, 512)
    assert s.max_inflight_bytes == 8 * 1_048_576
    assert (s.header_read_timeout_seconds, s.body_read_timeout_seconds) == (10, 30)


def test_all_variables_parsed_and_others_ignored(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"ci:writer:{'ab' * 32}\n\n# dashboards read\ndash:reader:{'CD' * 32}\n")
    s = Settings.from_env(
        {
            "API_KEYS_FILE": str(keys),
            "AUTH": " Required ",
            "APP_ENV": "prod",
            "LOG_LEVEL": "DEBUG",
            "PORT": "9000",
            "DATABASE_HOST": "db.internal",
            "DATABASE_PORT": "6432",
            "DATABASE_NAME": "walprod",
            "DATABASE_USER": "svc",
            "DATABASE_PASSWORD": " s3cret ",
            "DATABASE_SSLMODE": "verify-full",
            "DRAIN_SECONDS": "2.5",
            "SHUTDOWN_TIMEOUT_SECONDS": "30",
            "MAX_BODY_BYTES": "2048",
            "DATABASE_POOL_SIZE": "3",
            "MAX_JSON_DEPTH": "10",
            "MAX_HEADER_BYTES": "8192",
            "MAX_INFLIGHT_BYTES": "4096",
            "MAX_CONNECTIONS": "50",
            "HEADER_READ_TIMEOUT_SECONDS": "2.5",
            "BODY_READ_TIMEOUT_SECONDS": "60",
            "HOME": "/nowhere",
            "DATABASE_URL": "postgres://ignored",
        }
    )
    assert s.app_env == "prod" and s.log_level == "debug" and s.port == 9000
    assert s.database_host == "db.internal" and s.database_port == 6432
    assert s.database_password == " s3cret "
    assert s.database_sslmode == "verify-full"
    assert s.drain_seconds == 2.5 and s.shutdown_timeout_seconds == 30
    assert s.max_body_bytes == 2048 and s.database_pool_size == 3
    assert s.conninfo_kwargs()["dbname"] == "walprod"
    assert (s.max_json_depth, s.max_header_bytes, s.max_inflight_bytes) == (10, 8192, 4096)
    assert (s.max_connections, s.header_read_timeout_seconds) == (50, 2.5)
    assert s.body_read_timeout_seconds == 60
    assert s.api_keys_file == str(keys) and not s.auth_disabled
    assert [(k.name, k.role, k.digest.hex()) for k in s.api_keys] == [
        ("ci", "writer", "ab" * 32),
        ("dash", "reader", "cd" * 32),
    ]
    assert "ab" * 32 not in repr(s), "the hashes stay out of reprs (and so out of tracebacks)"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "0"),
        ("PORT", "1.5"),
        ("DRAIN_SECONDS", "soon"),
        ("LOG_LEVEL", "trace"),
        ("MAX_JSON_DEPTH", "0"),
        ("MAX_JSON_DEPTH", "1000"),
        ("MAX_HEADER_BYTES", "100"),
        ("MAX_CONNECTIONS", "0"),
        ("HEADER_READ_TIMEOUT_SECONDS", "0"),
        ("BODY_READ_TIMEOUT_SECONDS", "forever"),
        ("MAX_INFLIGHT_BYTES", "1024"),  # below the default MAX_BODY_BYTES
        ("AUTH", "off"),
        ("API_KEYS_FILE", ""),
        ("API_KEYS_FILE", "/nonexistent/keys"),
    ],
)
def test_invalid_value_names_variable(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({name: value})


def test_fd_limit_too_low_for_max_connections_names_the_variable() -> None:
    import resource

    from wal_service.config import ensure_fd_limit

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        pytest.skip("no hard limit on file descriptors here")
    ensure_fd_limit(Settings(max_connections=hard // 2))  # fits: raises nothing
    with pytest.raises(ConfigError, match="MAX_CONNECTIONS=.*ulimit -n"):
        ensure_fd_limit(Settings(max_connections=hard))
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
