"""The service's ConfigMap entries follow the stack config."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tests.components.workload_objects import WORKLOAD, config_data

if TYPE_CHECKING:
    from conftest import StackRun


# Stack config key -> the service's environment variable (app/README.md "Configuration").
SERVICE_LIMITS = {
    "maxBodyBytes": "MAX_BODY_BYTES",
    "maxJsonDepth": "MAX_JSON_DEPTH",
    "maxHeaderBytes": "MAX_HEADER_BYTES",
    "maxInflightBytes": "MAX_INFLIGHT_BYTES",
    "maxConnections": "MAX_CONNECTIONS",
    "headerReadTimeoutSeconds": "HEADER_READ_TIMEOUT_SECONDS",
    "bodyReadTimeoutSeconds": "BODY_READ_TIMEOUT_SECONDS",
}


def test_service_limits_come_from_stack_config(run: StackRun, config: dict[str, str]) -> None:
    data = config_data(run)
    for key, env in SERVICE_LIMITS.items():
        assert data.get(env) == str(config[key]), (
            f"{run.one('ConfigMap', WORKLOAD)}: {env}={data.get(env)!r} but {key}={config[key]!r}"
        )
