"""A stack's settings beside the project's other stacks and the state backend, and the two ways to get them.

`parse_settings` judges one stack's values alone. What it cannot see is checked here: config keys that
configure nothing (a disabled default provider's), names and host ports another stack of the project claims
on the same machine, a state backend other than the one the stack names, and an imageRef not yet promoted.
`load_settings` (the running program) and `stack_settings` (ops, tools, tests) run every one of them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pulumi
import yaml

from components.image_ref import PLACEHOLDER_DIGEST
from components.settings import Settings, parse_settings
from components.stack_config import (
    PROJECT,
    ROOT,
    ConfigError,
    engine_config,
    engine_values,
    load_stack_config,
    project_values,
    stack_names,
)

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


def _checked(settings: Settings, config: Mapping[str, str], root: Path, extra: list[str]) -> Settings:
    problems = inert_keys(config) + collisions(settings, sibling_settings(settings.stack, root)) + extra
    if problems:
        raise pulumi.RunError("; ".join(problems))
    return settings


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
