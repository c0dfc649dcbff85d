"""Shared fixtures: the real program run under Pulumi's mocks, once per scenario.

Every scenario (stack + --set/--unset overrides) runs `python -m tools.mockrun` in
a fresh interpreter (the Pulumi runtime keeps global state) and is cached for the
whole session. Modules that need many scenarios prefetch them in parallel.
"""

from __future__ import annotations

import functools
import json
import os
import queue
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
STACKS = ("dev", "staging", "prod")

Scenario = tuple[str, tuple[str, ...], tuple[str, ...]]
T = TypeVar("T")
RUN_TIMEOUT = 120

# What a deployable prod has been given by `pulumi config set`: its file's all-zero imageRef is refused by
# `pulumi up` until something is promoted. Under mocks a `secure:` value stands for an encrypted one.
# Every run of prod gets these first, so a scenario's own --set or --unset (later wins) can still replace them.
PROMOTED_PROD_IMAGE = "registry.example.com/wal-service@sha256:" + "5" * 64
# prod's clients' keys, as `pulumi config set --secret` gives them to the program (tools.mockrun `{secret: }`).
PROD_API_KEYS = "orders-writer:writer:" + "W" * 40 + ",dashboards:reader:" + "R" * 40
BASE_SETS: dict[str, tuple[str, ...]] = {
    "prod": (
        "wal-service:databasePassword={secure: AAABAMockCiphertext}",
        f"wal-service:apiKeys={{secret: '{PROD_API_KEYS}'}}",
        f"wal-service:imageRef={PROMOTED_PROD_IMAGE}",
    ),
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
    reached: frozenset[str] = frozenset()
    """Functions the run went through, recorded only while mutmut maps tests to functions."""

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
        _command(module, stack, sets, unsets),
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=RUN_TIMEOUT,
    )


# A fork server: one interpreter imports the program's heavy dependencies once, then forks a
# fresh child per run that calls tools.mockrun.main(argv), exactly what `python -m tools.mockrun`
# does. The Pulumi runtime state only ever exists in the child. Imports are ~2/3 of a run's cost.
_FORK_SERVER = r"""
import json, os, sys, traceback
sys.path.insert(0, os.getcwd())
import tools.mockrun
try:
    import pulumi.runtime.mocks, components.environment  # noqa: F401 - preload only
except BaseException:
    pass  # a broken program is reported by the child's own run
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        for fd, path in ((1, job["stdout"]), (2, job["stderr"])):
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), fd)
        try:
            code = tools.mockrun.main(job["argv"])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
        if os.environ.get("MUTANT_UNDER_TEST") == "stats":
            from mutmut.state import state
            with open(job["reached"], "w") as reached:
                json.dump(sorted(state()._stats), reached)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    print(os.waitstatus_to_exitcode(status), flush=True)
"""


class _ForkServer:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        # A session of its own: a run that hangs is stopped with the server and its forked child.
        self.proc = subprocess.Popen(
            [sys.executable, "-c", _FORK_SERVER],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        self.count = 0

    def run(self, argv: list[str]) -> tuple[int, str, str, frozenset[str]]:
        assert self.proc.stdin and self.proc.stdout
        self.count += 1
        out, err, reached = (self.workdir / f"{self.count}.{suffix}" for suffix in ("out", "err", "reached"))
        job = {"argv": argv, "stdout": str(out), "stderr": str(err), "reached": str(reached)}
        self.proc.stdin.write(json.dumps(job) + "\n")
        self.proc.stdin.flush()
        # As long as `python -m tools.mockrun` may take (run_cli): a program that hangs fails its test.
        if not select.select([self.proc.stdout], [], [], RUN_TIMEOUT)[0]:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise RuntimeError(f"mock run {argv} gave no answer within {RUN_TIMEOUT} s")
        reply = self.proc.stdout.readline()
        if not reply:
            raise RuntimeError("the mock-run fork server died")
        functions = frozenset(json.loads(reached.read_text())) if reached.exists() else frozenset()
        return int(reply), out.read_text(), err.read_text(), functions

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=30)
        if self.proc.stdout:
            self.proc.stdout.close()


class MockRuns:
    """Session cache of mock runs, keyed by scenario."""

    def __init__(self, workdir: Path | None = None) -> None:
        self._cache: dict[Scenario, StackRun] = {}
        self._lock = threading.Lock()
        self._workers = max(2, os.cpu_count() or 2)
        self._servers: queue.Queue[_ForkServer] = queue.Queue()
        self._all_servers: list[_ForkServer] = []
        if workdir is not None and hasattr(os, "fork") and not os.environ.get("WAL_TESTS_NO_FORK_SERVER"):
            for index in range(self._workers):
                server = _ForkServer(workdir / f"server{index}")
                server.workdir.mkdir(parents=True)
                self._all_servers.append(server)
                self._servers.put(server)

    def close(self) -> None:
        for server in self._all_servers:
            server.close()

    def _execute(self, scenario: Scenario) -> StackRun:
        stack, sets, unsets = scenario
        if self._all_servers:
            server = self._servers.get()
            try:
                argv = _command("tools.mockrun", stack, sets, unsets)[3:]
                returncode, stdout, stderr, reached = server.run(argv)
            finally:
                self._servers.put(server)
        else:
            proc = run_cli("tools.mockrun", stack, sets, unsets)
            returncode, stdout, stderr, reached = proc.returncode, proc.stdout, proc.stderr, frozenset()
        if returncode not in (0, 2) or not stdout.strip():
            raise RuntimeError(f"mock run {scenario} crashed (exit {returncode}):\n{stderr}")
        return StackRun(stack, sets, unsets, returncode, stderr, json.loads(stdout), reached)

    def prefetch(self, scenarios: Iterable[Scenario]) -> None:
        """Run scenarios (built with `scenario`) in parallel."""
        missing = [s for s in dict.fromkeys(scenarios) if s not in self._cache]
        if not missing:
            return
        with ThreadPoolExecutor(max_workers=self._workers) as pool:
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
        _credit(self._cache[scenario].reached)
        return self._cache[scenario]


# `make mutation` (mutmut) runs each mutant against the tests that reached its function, as recorded in
# one instrumented run of the suite ("stats"), inside mutmut's process only. What a test reaches through
# a subprocess comes back in a file (tools/mutmut_site, and _FORK_SERVER for mock runs) and is credited
# here; a cached result credits, on every use, what producing it reached. Outside that run all of this
# does nothing.
def _mapping() -> bool:
    return os.environ.get("MUTANT_UNDER_TEST") == "stats"


def _credit(functions: Iterable[str]) -> None:
    if _mapping():
        from mutmut.state import state

        state()._stats.update(functions)


def _reached_in_subprocesses() -> set[str]:
    """What the subprocesses that ended since the last call went through (their files are consumed)."""
    folder = os.environ.get("WAL_MUTATION_REACHED")
    reached: set[str] = set()
    for path in Path(folder).glob("*.json") if folder and _mapping() else ():
        reached.update(json.loads(path.read_text()))
        path.unlink()
    return reached


_CACHES: list[dict[Any, Any]] = []


def crediting_cache(function: Callable[..., T]) -> Callable[..., T]:
    """functools.cache for helpers that run the program in a subprocess, crediting its functions on every hit.

    Emptied when a test session starts: mutmut runs every mutant's session in a process forked from the one
    that ran the whole suite, and a result cached there (from the unmutated program) would hide the mutant."""
    results: dict[tuple[Any, ...], tuple[T, set[str]]] = {}
    _CACHES.append(results)

    @functools.wraps(function)
    def cached(*args: Any) -> T:
        if args not in results:
            _credit(_reached_in_subprocesses())  # earlier subprocesses of this test are not this call's
            value = function(*args)
            results[args] = (value, _reached_in_subprocesses())
        value, reached = results[args]
        _credit(reached)
        return value

    return cached


def pytest_sessionstart(session: pytest.Session) -> None:
    for cache in _CACHES:
        cache.clear()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item) -> None:
    if not _mapping():
        return
    _credit(_reached_in_subprocesses())
    # Session fixtures hand a test a cached run without calling MockRuns.get for it.
    for value in getattr(item, "funcargs", {}).values():
        if isinstance(value, StackRun):
            _credit(value.reached)


@pytest.fixture(scope="session")
def mockruns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockRuns]:
    runs = MockRuns(tmp_path_factory.mktemp("mockruns"))
    try:
        runs.prefetch(runs.scenario(stack) for stack in STACKS)
        yield runs
    finally:
        runs.close()


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


def build(program: Callable[[], object]) -> StackRun:
    """Run `program` (typically: one component built from its args alone) under mocks in this process.

    No stack configuration exists during the run: a component that reached for Settings or
    `pulumi.Config` instead of its args would fail here."""
    from tools.mockrun import run as mock_run

    record = json.loads(json.dumps(mock_run("unit", {}, [], program=program), default=str))
    assert record["error"] is None, f"building failed: {record['error']}"
    return StackRun("unit", (), (), 0, "", record)


@pytest.fixture(scope="session")
def build_component() -> Callable[[Callable[[], object]], StackRun]:
    """`build_component(lambda: Component("name", Args(...)))`: the objects it registers (see `build`)."""
    return build


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
    from components.stack_config import load_stack_config, project_values

    merged, _ = load_stack_config(stack)
    return project_values(merged)


def min_pods(cfg: dict[str, str]) -> int:
    """Fewest pods the stack runs with, straight from config (not from the settings model)."""
    return int(cfg["minReplicas"]) if cfg["autoscaling"] == "true" else int(cfg["replicas"])


@pytest.fixture(scope="session")
def expected_min_pods(config: dict[str, str]) -> int:
    return min_pods(config)
