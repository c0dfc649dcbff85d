"""Stack configuration as the Pulumi CLI hands it to the program: one module for the program, ops and tools.

Under `pulumi up` the engine passes the merged map itself (`engine_config`). Before that,
and without the CLI, `load_stack_config` rebuilds the same map from the files: Pulumi.yaml
defaults, then Pulumi.<stack>.yaml, values stringified as the CLI does, `secure:` values
marked secret. `ops/` (preflight, verify, rollback...) and `tools/` (render, the mock run)
read a stack through it, so they see exactly what the program will see.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml

PROJECT = "wal-service"
ROOT = Path(__file__).resolve().parent.parent
# kind writes a stack's kubeconfig here (gitignored), never into ~/.kube/config.
KIND_KUBECONFIG_DIR = ROOT / ".kube"
# What a `secure:` value stands for when read from the file: it cannot be decrypted without the CLI.
SECRET_PLACEHOLDER = "mock-secret-value-{key}"


def kind_kubeconfig_path(cluster_name: str) -> Path:
    """The kubeconfig file of the stack's kind cluster: kind creates and deletes it, ops and kubectl read it."""
    return KIND_KUBECONFIG_DIR / f"kind-{cluster_name}.yaml"


class ConfigError(Exception):
    """The stack files themselves are unusable (missing file, bad YAML)."""


def _stringify(value: Any) -> str:
    # The CLI hands scalar config to programs as strings and structured config as JSON.
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


def full_key(key: str) -> str:
    """`replicas` -> `wal-service:replicas`; keys of other namespaces stay as they are."""
    return key if ":" in key else f"{PROJECT}:{key}"


def project_values(config: Mapping[str, Any]) -> dict[str, Any]:
    """The values under our namespace, keyed without the `wal-service:` prefix."""
    prefix = f"{PROJECT}:"
    return {key.removeprefix(prefix): value for key, value in config.items() if key.startswith(prefix)}


def engine_values() -> dict[str, str]:
    """Every value (all namespaces, full keys) as the engine passed it to the running program."""
    # The language host passes the whole map in PULUMI_CONFIG; tests and mocks set it in-process.
    return {**pulumi.runtime.config.get_config_env(), **pulumi.runtime.config.CONFIG.get()}


def engine_config() -> dict[str, str]:
    """Our namespace's values as the engine passed them to the running program."""
    return project_values(engine_values())


def stack_names(root: Path = ROOT) -> list[str]:
    """The stacks that have a Pulumi.<stack>.yaml beside Pulumi.yaml."""
    return sorted(path.name[len("Pulumi.") : -len(".yaml")] for path in root.glob("Pulumi.*.yaml"))


def _read_yaml(path: Path) -> Any:
    """A YAML file; a syntax error becomes one line naming the file, line and column."""
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no such file: {path}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path.name}:{mark.line + 1}:{mark.column + 1}" if mark else path.name
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())
        raise ConfigError(
            f"{where}: invalid YAML: {problem}; fix the file (YAML syntax: https://yaml.org/spec/1.2.2/)"
        ) from None


def load_stack_config(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    unset: list[str] | None = None,
    root: Path = ROOT,
) -> tuple[dict[str, str], list[str]]:
    """The config map (full keys) and secret keys the CLI would give the program for `stack`."""
    project = _read_yaml(root / "Pulumi.yaml") or {}
    stack_path = root / f"Pulumi.{stack}.yaml"
    stack_doc = _read_yaml(stack_path) or {}
    if not isinstance(project, dict) or not isinstance(stack_doc, dict):
        raise ConfigError(f"{'Pulumi.yaml' if not isinstance(project, dict) else stack_path.name}: must be a mapping")

    config: dict[str, str] = {}
    secret_keys: list[str] = []
    for key, decl in (project.get("config") or {}).items():
        full = full_key(key)
        if not full.startswith(f"{PROJECT}:"):
            # Engine and provider settings (pulumi:disable-default-providers) reach the program as plain values.
            config[full] = _stringify(decl)
        elif isinstance(decl, dict) and "default" in decl:
            config[full] = _stringify(decl["default"])
        elif not isinstance(decl, dict):
            config[full] = _stringify(decl)

    stack_config = stack_doc.get("config") or {}
    if not isinstance(stack_config, dict):
        raise ConfigError(f"{stack_path.name}: 'config' must be a mapping")
    for key, value in {**stack_config, **(overrides or {})}.items():
        full = full_key(key)
        if isinstance(value, dict) and set(value) == {"secure"}:
            config[full] = SECRET_PLACEHOLDER.format(key=full)
            secret_keys.append(full)
        else:
            config[full] = _stringify(value)
    for key in unset or []:
        config.pop(full_key(key), None)
    return config, sorted(secret_keys)
