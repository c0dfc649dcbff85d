"""One stack's settings, its Pulumi environment (local state backend, passphrase) and its outputs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

from components.registry import REGISTRY_PORT
from components.settings import Settings, stack_settings
from components.stack_config import ConfigError
from ops.proc import ROOT, UserError, run, tool_env

STATE_DIR = ROOT / ".pulumi-state"
# Documented and deliberately public: it only protects throw-away local stacks. prod needs the user's own.
DEV_PASSPHRASE = "wal-service-local-dev"
DEV_PASSPHRASE_STACKS = frozenset({"dev", "staging"})


def load(stack: str, root: Path = ROOT) -> Settings:
    """The stack's validated settings, from Pulumi.yaml defaults plus Pulumi.<stack>.yaml."""
    try:
        return stack_settings(stack, root=root)
    except (ConfigError, pulumi.RunError) as exc:
        raise UserError(f"stack {stack}: {exc}") from None


def pulumi_env(stack: str, base: Mapping[str, str] | None = None, state_dir: Path = STATE_DIR) -> dict[str, str]:
    """Environment for every pulumi call: local file backend unless the user chose one, and a passphrase."""
    env = tool_env(base)
    # PULUMI_BACKEND_URL is `pulumi login` for this process only: the user's global login stays untouched.
    if not env.get("PULUMI_BACKEND_URL"):
        state_dir.mkdir(parents=True, exist_ok=True)
        env["PULUMI_BACKEND_URL"] = f"file://{state_dir}"
    if not env.get("PULUMI_CONFIG_PASSPHRASE") and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE"):
        if stack not in DEV_PASSPHRASE_STACKS:
            raise UserError(
                f"stack {stack} needs your own secrets passphrase (the dev one is public): "
                "export PULUMI_CONFIG_PASSPHRASE=<passphrase> (or PULUMI_CONFIG_PASSPHRASE_FILE=<file>)"
            )
        env["PULUMI_CONFIG_PASSPHRASE"] = DEV_PASSPHRASE
    env.setdefault("PULUMI_SKIP_UPDATE_CHECK", "true")
    return env


def outputs(stack: str, env: Mapping[str, str]) -> dict[str, Any]:
    """`pulumi stack output --json`; a missing stack or CLI is a user error naming the fix."""
    result = run(["pulumi", "stack", "output", "--json", "--stack", stack], env=env, timeout=60)
    if result is None:
        raise UserError("pulumi is not installed; run: python -m ops.tools --install")
    if not result.ok:
        raise UserError(
            f"cannot read outputs of stack {stack} ({result.first_error_line()}); run: make up STACK={stack}"
        )
    try:
        data = json.loads(result.stdout or "{}")
    except json.JSONDecodeError:
        raise UserError(f"pulumi stack output gave no JSON for stack {stack}") from None
    if not isinstance(data, dict) or not data.get("namespace"):
        raise UserError(f"stack {stack} has no outputs yet; run: make up STACK={stack}")
    return data


def resolve_hint(settings: Settings) -> list[str]:
    """The one hosts-file line (kind) and the curl form that works without it."""
    port = settings.ingress_port
    scheme = "https" if settings.tls_secret_name else "http"
    url = settings.url.rstrip("/") + settings.health_path
    if settings.cluster_mode != "kind":
        where = "the Gateway's address" if settings.routing == "gateway" else "the cluster's ingress address"
        return [f"DNS for {settings.host} must point at {where}; then: curl {url}"]
    return [
        f"hosts-file line: 127.0.0.1 {settings.host}   (echo '127.0.0.1 {settings.host}' | sudo tee -a /etc/hosts)",
        f"without it: curl --resolve {settings.host}:{port}:127.0.0.1 {'-k ' if scheme == 'https' else ''}{url}",
    ]


def registry_host(settings: Settings) -> str:
    """Where the cluster pulls images from: the registry container on the kind network, or registryServer."""
    if settings.registry_mode == "local":
        return f"{settings.registry_name}:{REGISTRY_PORT}"
    if not settings.registry_server:
        raise UserError("wal-service:registryServer is empty; no pull reference for an external registry")
    return settings.registry_server
