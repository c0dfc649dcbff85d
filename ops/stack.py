"""One stack's settings, its Pulumi environment (secrets passphrase) and its outputs."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi

from components.registry import REGISTRY_PORT
from components.settings import Settings
from components.stack_checks import stack_settings
from components.stack_config import ConfigError
from ops.proc import ROOT, UserError, command_line, run, tool_env

# Public on purpose: it guards only the throwaway local state of dev and staging, whose stack files commit
# the encryptionsalt made from it. Shared stacks (prod) keep their secrets with their own backend.
DEV_PASSPHRASE = "wal-service-local-dev"
DEV_PASSPHRASE_STACKS = frozenset({"dev", "staging"})
UP_TIMEOUT = 45 * 60  # kind create (3 min) + helm (10 min) + build, with room to spare


def policy_args(root: Path = ROOT) -> list[str]:
    """The guardrails for every preview and up, when the pack is there."""
    return ["--policy-pack", "policy"] if (root / "policy" / "PulumiPolicy.yaml").exists() else []


def up_command(stack: str, root: Path = ROOT) -> list[str]:
    """`pulumi up` as every up runs it (make up, make rollback, the deploy workflow): with the guardrails, and reading
    the live objects first. Without `--refresh` the engine diffs against the last recorded state only: after the
    cluster lost the stack's objects (etcd wiped, an object deleted by hand) it finds nothing to do (`make
    e2e-faults`, cluster reset). Only up refreshes: a refresh of a Deployment that is not Ready at that moment (a
    rollout, an HPA scaling up) proposes an update, which an up awaits and a preview would report as a change."""
    return ["pulumi", "up", "--yes", "--refresh", "--stack", stack, *policy_args(root)]


def load(stack: str, root: Path = ROOT) -> Settings:
    """The stack's validated settings, from Pulumi.yaml defaults plus Pulumi.<stack>.yaml."""
    try:
        return stack_settings(stack, root=root)
    except (ConfigError, pulumi.RunError) as exc:
        raise UserError(f"stack {stack}: {exc}") from None


def pulumi_env(stack: str, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for every pulumi call: what a plain `pulumi` would get, plus the public passphrase of the local
    stacks when none is set. The backend is Pulumi.yaml's (or PULUMI_BACKEND_URL), exactly as for plain `pulumi`."""
    env = tool_env(base)
    unset = not env.get("PULUMI_CONFIG_PASSPHRASE") and not env.get("PULUMI_CONFIG_PASSPHRASE_FILE")
    if unset and stack in DEV_PASSPHRASE_STACKS:
        env["PULUMI_CONFIG_PASSPHRASE"] = DEV_PASSPHRASE
    return env


def select(settings: Settings, env: Mapping[str, str]) -> None:
    """`pulumi stack select`, creating a machine-local stack on first use (a shared one is created once, by hand)."""
    command = ["pulumi", "stack", "select", settings.stack]
    if not settings.state_backend:
        command.insert(3, "--create")
    print(f"$ {command_line(command, env)}", flush=True)
    result = run(command, env=env, timeout=60)
    if result is None:
        raise UserError("pulumi is not installed; run: python -m ops.tools --install")
    if not result.ok:
        raise UserError(f"`{' '.join(command)}` failed: {result.first_error_line()}")


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


# RFC 6750 bearer token characters: what the service accepts, and what is safe in a header.
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/-]+=*$")


def api_token(stack: str, outputs: Mapping[str, Any], env: Mapping[str, str]) -> tuple[str, str]:
    """A token the stack's keys include, and where it came from (for check lines: never the token itself):
    WAL_API_TOKEN when set, else the stack's apiToken output; ("", "") when there is neither."""
    if env.get("WAL_API_TOKEN"):
        token, source = env["WAL_API_TOKEN"].strip(), "WAL_API_TOKEN"
    elif "apiToken" in outputs:
        result = run(["pulumi", "stack", "output", "apiToken", "--show-secrets", "--stack", stack], env=env, timeout=60)
        if result is None or not result.ok:
            raise UserError(
                f"cannot read the apiToken output of stack {stack}; run: pulumi stack output apiToken --show-secrets "
                f"--stack {stack}"
            )
        token, source = result.stdout.strip(), "the stack output apiToken"
    else:
        return "", ""
    if not _TOKEN.match(token):
        raise UserError(f"{source} is not a bearer token (RFC 6750 characters only); set it again")
    return token, source


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
