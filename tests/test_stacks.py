"""The stacks together: they share Docker hosts and clusters, so nothing may collide."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from components.stack_config import load_stack_config, project_values

STACKS = ("dev", "staging", "prod")


@pytest.fixture(scope="module")
def configs() -> dict[str, dict[str, str]]:
    result = {}
    for name in STACKS:
        merged, _ = load_stack_config(name)
        result[name] = project_values(merged)
    return result


def namespace(name: str, cfg: dict[str, str]) -> str:
    return cfg["namespace"] or f"wal-service-{name}"


def assert_distinct(values: dict[str, Any], what: str) -> None:
    for (a, va), (b, vb) in itertools.combinations(values.items(), 2):
        assert va != vb, f"stacks {a} and {b} share {what} {va!r}"


def test_namespaces_and_hosts_differ(configs: dict[str, dict[str, str]]) -> None:
    assert_distinct({name: namespace(name, cfg) for name, cfg in configs.items()}, "namespace")
    assert_distinct({name: cfg["host"] for name, cfg in configs.items()}, "host")


def test_local_platforms_do_not_collide(configs: dict[str, dict[str, str]]) -> None:
    """kind stacks run side by side on one Docker host: cluster, registry container and host ports."""
    kind = {name: cfg for name, cfg in configs.items() if cfg["clusterMode"] == "kind"}
    assert {"dev", "staging"} <= set(kind), f"expected dev and staging on kind, got {sorted(kind)}"
    assert_distinct({name: cfg["kindClusterName"] for name, cfg in kind.items()}, "kind cluster name")
    local = {name: cfg for name, cfg in kind.items() if cfg["registryMode"] == "local"}
    assert_distinct({name: cfg["registryName"] for name, cfg in local.items()}, "registry container name")
    ports: dict[str, tuple[str, str]] = {}
    for name, cfg in kind.items():
        keys = ["ingressHttpPort", "ingressHttpsPort"] + (["registryPort"] if name in local else [])
        for key in keys:
            port = cfg[key]
            assert port not in ports, f"stack {name} {key} {port} is also stack {ports[port][0]} {ports[port][1]}"
            ports[port] = (name, key)


def test_stack_files_hold_only_differences(project_doc: dict[str, Any], stack_docs: dict[str, dict[str, Any]]) -> None:
    defaults = {
        key: decl["default"]
        for key, decl in project_doc["config"].items()
        if isinstance(decl, dict) and "default" in decl
    }
    for name, values in stack_docs.items():
        for key, value in values.items():
            assert key not in defaults or value != defaults[key], (
                f"Pulumi.{name}.yaml sets {key} to its Pulumi.yaml default {value!r}; stack files hold only differences"
            )


def test_outputs_differ_between_stacks(mockruns: Any) -> None:
    runs = {name: mockruns.get(name) for name in STACKS}
    for name, result in runs.items():
        assert result.returncode == 0, f"stack {name} failed: {result.error}"
    assert_distinct({name: r.outputs["namespace"] for name, r in runs.items()}, "namespace output")
    assert_distinct({name: r.outputs["url"] for name, r in runs.items()}, "url output")
