"""Shared fixtures: the real program run under Pulumi's mocks, once per scenario.

Every scenario (stack + --set/--unset overrides) runs `python -m tools.mockrun` in
a fresh interpreter (the Pulumi runtime keeps global state) and is cached for the
whole session. Modules that need many scenarios prefetch them in parallel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
PROJECT = "wal-service"
STACKS = ("dev", "staging", "prod")
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/component",
    "app.kubernetes.io/part-of",
    "app.kubernetes.io/managed-by",
)

Scenario = tuple[str, tuple[str, ...], tuple[str, ...]]

# What `pulumi config set --secret` would have stored: under mocks a `secure:` value stands for
# an encrypted one. prod's external database needs its password; every run of prod gets it first,
# so a scenario's own --set (later wins) can still replace it.
BASE_SETS: dict[str, tuple[str, ...]] = {
    "prod": ("wal-service:databasePassword={secure: AAABAMockCiphertext}",),
}


@dataclass(frozen=True)
class K8sObject:
    """One Kubernetes object as the program registered it (inputs, secrets masked)."""

    registration: dict[str, Any]

    @property
    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = self.registration["inputs"]
        return body

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))

    @property
    def name(self) -> str:
        """The Pulumi logical name: what failure messages cite."""
        return str(self.registration["name"])

    @property
    def metadata(self) -> dict[str, Any]:
        meta: dict[str, Any] = self.body.get("metadata") or {}
        return meta

    @property
    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = self.body.get("spec") or {}
        return spec

    @property
    def parent_type(self) -> str:
        """Type token of the component that registered the object (last segment of the parent URN's type)."""
        parent = str(self.registration.get("parent") or "")
        parts = parent.split("::")
        return parts[2].rsplit("$", 1)[-1] if len(parts) > 3 else ""

    def __str__(self) -> str:
        return f"{self.kind} {self.name} ({self.registration['urn']})"


@dataclass(frozen=True)
class StackRun:
    """The outcome of one mock run: exit code, stderr and the JSON record."""

    stack: str
    sets: tuple[str, ...]
    unsets: tuple[str, ...]
    returncode: int
    stderr: str
    record: dict[str, Any]

    @property
    def error(self) -> str | None:
        error: str | None = self.record.get("error")
        return error

    @property
    def registrations(self) -> list[dict[str, Any]]:
        regs: list[dict[str, Any]] = self.record.get("resources", [])
        return regs

    @property
    def outputs(self) -> dict[str, Any]:
        outputs: dict[str, Any] = self.record.get("outputs", {})
        return outputs

    def objects(self, kind: str | None = None, component: str | None = None) -> list[K8sObject]:
        """Kubernetes objects (custom kubernetes:* resources with apiVersion/kind), optionally of one kind
        and only those a given component (e.g. "ServiceWorkload") registered."""
        found = [
            K8sObject(r)
            for r in self.registrations
            if r["custom"] and r["type"].startswith("kubernetes:") and "kind" in r["inputs"]
        ]
        return [
            o
            for o in found
            if (kind is None or o.kind == kind) and (component is None or o.parent_type.endswith(f":{component}"))
        ]

    def one(self, kind: str, component: str | None = None) -> K8sObject:
        found = self.objects(kind, component)
        assert len(found) == 1, f"stack {self.stack}: expected exactly one {kind}, got {[str(o) for o in found]}"
        return found[0]

    def maybe(self, kind: str, component: str | None = None) -> K8sObject | None:
        found = self.objects(kind, component)
        assert len(found) <= 1, f"stack {self.stack}: expected at most one {kind}, got {[str(o) for o in found]}"
        return found[0] if found else None


def _command(module: str, stack: str, sets: Iterable[str], unsets: Iterable[str]) -> list[str]:
    cmd = [sys.executable, "-m", module]
    cmd += ["--stack", stack] if module == "tools.mockrun" else [stack]
    for item in sets:
        cmd += ["--set", item]
    for item in unsets:
        cmd += ["--unset", item]
    return cmd


def run_cli(
    module: str, stack: str, sets: Iterable[str] = (), unsets: Iterable[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run one of the tools as a user would, from the project directory."""
    return subprocess.run(
        _command(module, stack, sets, unsets), cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )


class MockRuns:
    """Session cache of mock runs, keyed by scenario."""

    def __init__(self) -> None:
        self._cache: dict[Scenario, StackRun] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _execute(scenario: Scenario) -> StackRun:
        stack, sets, unsets = scenario
        proc = run_cli("tools.mockrun", stack, sets, unsets)
        if proc.returncode not in (0, 2) or not proc.stdout.strip():
            raise RuntimeError(f"mock run {scenario} crashed (exit {proc.returncode}):\n{proc.stderr}")
        return StackRun(stack, sets, unsets, proc.returncode, proc.stderr, json.loads(proc.stdout))

    def prefetch(self, scenarios: Iterable[Scenario]) -> None:
        """Run scenarios (built with `scenario`) in parallel."""
        missing = [s for s in dict.fromkeys(scenarios) if s not in self._cache]
        if not missing:
            return
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            for scenario, run in zip(missing, pool.map(self._execute, missing), strict=True):
                with self._lock:
                    self._cache[scenario] = run

    @staticmethod
    def scenario(stack: str, sets: Iterable[str] = (), unsets: Iterable[str] = ()) -> Scenario:
        return (stack, (*BASE_SETS.get(stack, ()), *sets), tuple(unsets))

    def get(self, stack: str, sets: Iterable[str] = (), unsets: Iterable[str] = ()) -> StackRun:
        scenario = self.scenario(stack, sets, unsets)
        if scenario not in self._cache:
            self.prefetch([scenario])
        return self._cache[scenario]


@pytest.fixture(scope="session")
def mockruns() -> MockRuns:
    runs = MockRuns()
    runs.prefetch(runs.scenario(stack) for stack in STACKS)
    return runs


@pytest.fixture(scope="session", params=STACKS)
def stack(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def run(mockruns: MockRuns, stack: str) -> StackRun:
    """The unmodified stack's mock run; it must have succeeded."""
    result = mockruns.get(stack)
    assert result.returncode == 0 and result.error is None, f"stack {stack} failed: {result.error or result.stderr}"
    return result


@pytest.fixture(scope="session")
def cli() -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_cli(module, stack, sets, unsets)`: a tool run as a user would run it."""
    return run_cli


@pytest.fixture(scope="session")
def project_doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())
    return doc


@pytest.fixture(scope="session")
def stack_docs() -> dict[str, dict[str, Any]]:
    """Each stack file's `config:` mapping, as written."""
    docs: dict[str, dict[str, Any]] = {}
    for name in STACKS:
        doc = yaml.safe_load((ROOT / f"Pulumi.{name}.yaml").read_text()) or {}
        docs[name] = doc.get("config") or {}
    return docs


@pytest.fixture(scope="session")
def config(stack: str) -> dict[str, str]:
    """The merged config map the CLI would hand the program, keys without the project prefix."""
    from tools.mockrun import load_stack_config

    merged, _ = load_stack_config(stack)
    return {key.removeprefix(f"{PROJECT}:"): value for key, value in merged.items()}


def min_pods(cfg: dict[str, str]) -> int:
    """Fewest pods the stack runs with, straight from config (not from the settings model)."""
    return int(cfg["minReplicas"]) if cfg["autoscaling"] == "true" else int(cfg["replicas"])


@pytest.fixture(scope="session")
def expected_min_pods(config: dict[str, str]) -> int:
    return min_pods(config)
