"""Preflight: can `pulumi up` work on this machine for this stack? One line per problem, with its fix.

    python -m ops.preflight --stack dev

Lists every problem at once, Docker first; exit 1 when one of them stops `pulumi up` (the others are warnings).
"""

from __future__ import annotations

import argparse
import errno
import ipaddress
import json
import os
import re
import socket
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from components.docker_host import DockerHost, probe
from components.settings import Settings
from components.stack_checks import backend_problem, effective_backend, promote_command
from components.stack_config import PROJECT
from ops import stack as stack_mod
from ops.proc import Result, UserError, cli, run, tool_env
from ops.tools import MINIMUM, PINNED, ToolStatus, check_tool, show

Level = Literal["ok", "warn", "fail"]
_LABEL = {"ok": "ok  ", "warn": "WARN", "fail": "FAIL"}


@dataclass(frozen=True)
class Finding:
    level: Level
    check: str
    message: str
    fix: str = ""

    def line(self) -> str:
        return f"{_LABEL[self.level]} {self.check}: {self.message}" + (f" -> fix: {self.fix}" if self.fix else "")


# ----------------------------------------------------------------------------------------- pure checks
def docker_finding(result: Result | None) -> Finding:
    """From `docker info`: installed and the daemon answers."""
    if result is None:
        return Finding(
            "fail", "docker", "the docker CLI is not installed", "install Docker: https://docs.docker.com/get-docker/"
        )
    if not result.ok:
        return Finding(
            "fail",
            "docker",
            f"the Docker daemon is not reachable ({result.first_error_line()})",
            "start Docker (Docker Desktop, or `sudo systemctl start docker`), then `docker info`",
        )
    return Finding("ok", "docker", "daemon reachable")


def cgroup_finding(host: DockerHost) -> Finding | None:
    """What the stack's kind config does about the daemon's cgroup version (components/kind_cluster.py)."""
    if host.cgroup_v1:
        return Finding(
            "ok",
            "cgroup",
            f"Docker at {host.endpoint or 'its default socket'} runs cgroup v1: the kind config sets the kubelet's "
            "failCgroupV1: false, without which kubelet 1.37 does not start",
        )
    return None


def tool_finding(status: ToolStatus) -> Finding:
    """A missing or old tool is not blocking: `make up` fetches the pinned release into bin/."""
    if status.ok and status.version is not None:
        return Finding("ok", status.name, f"{show(status.version)} at {status.path}")
    need = "" if status.version else f" (need >= {show(MINIMUM[status.name])})"
    return Finding(
        "warn",
        status.name,
        f"{status.problem}{need}",
        f"`python -m ops.tools --install` fetches {status.name} v{PINNED[status.name]} into bin/ (make up does it too)",
    )


_PUBLISHED = re.compile(r"(?:\d{1,3}(?:\.\d{1,3}){3}|\[?::\]?):(\d+)->")


def published_ports(docker_ps: str) -> dict[int, str]:
    """Host port -> container name, from `docker ps --format '{{.Names}}\\t{{.Ports}}'`."""
    held: dict[int, str] = {}
    for line in docker_ps.splitlines():
        name, _, ports = line.partition("\t")
        for match in _PUBLISHED.finditer(ports):
            held.setdefault(int(match.group(1)), name.strip())
    return held


def own_containers(settings: Settings) -> set[str]:
    names = {f"{settings.kind_cluster_name}-control-plane"}
    if settings.registry_mode == "local":
        names.add(settings.registry_name)
    return names


def port_findings(settings: Settings, busy: Callable[[int], bool], held_by: Mapping[int, str]) -> list[Finding]:
    findings = []
    for key, port in settings.kind_host_ports:
        check = f"port {port}"
        if not busy(port):
            findings.append(Finding("ok", check, f"127.0.0.1:{port} ({key}) is free"))
            continue
        owner = held_by.get(port)
        if owner in own_containers(settings):
            findings.append(Finding("ok", check, f"127.0.0.1:{port} ({key}) is held by this stack's container {owner}"))
            continue
        who = f"container {owner}" if owner else "another process"
        stop = f"`docker stop {owner}`" if owner else f"find it with `sudo lsof -nP -iTCP:{port} -sTCP:LISTEN`"
        findings.append(
            Finding(
                "fail",
                check,
                f"127.0.0.1:{port} ({key}) is in use by {who}",
                f"stop it ({stop}) or pick a free port: "
                f"pulumi config set wal-service:{key} <port> --stack {settings.stack}",
            )
        )
    return findings


@dataclass(frozen=True)
class StackState:
    """What the stack's Pulumi state says it created; `known` is False when the state could not be read."""

    known: bool
    clusters: Mapping[str, str] = field(default_factory=dict)
    """kind cluster name -> URN of the command that owns it."""
    containers: frozenset[str] = field(default_factory=frozenset)
    reason: str = ""
    pending_creates: tuple[str, ...] = ()
    """Resources an interrupted deploy began to create (their names), from the state's pending_operations."""


def state_from_export(export: Mapping[str, Any]) -> StackState:
    """Kind clusters and containers recorded in `pulumi stack export` output."""
    resources = (export.get("deployment") or {}).get("resources") or []
    clusters: dict[str, str] = {}
    containers: set[str] = set()
    for resource in resources:
        if not isinstance(resource, dict):
            continue
        props = {**(resource.get("inputs") or {}), **(resource.get("outputs") or {})}
        if resource.get("type") == "command:local:Command" and str(resource.get("urn", "")).endswith("-kind-create"):
            environment = props.get("environment") or {}
            if isinstance(environment, dict) and environment.get("KIND_CLUSTER"):
                clusters[str(environment["KIND_CLUSTER"])] = str(resource["urn"])
        elif resource.get("type") == "docker:index/container:Container" and props.get("name"):
            containers.add(str(props["name"]).lstrip("/"))
    pending = (export.get("deployment") or {}).get("pending_operations") or []
    creates = tuple(
        str(op["resource"]["urn"]).rsplit("::", 1)[-1]
        for op in pending
        if isinstance(op, dict) and op.get("type") == "creating" and isinstance(op.get("resource"), dict)
    )
    return StackState(True, clusters, frozenset(containers), pending_creates=creates)


def pending_finding(stack: str, state: StackState) -> Finding | None:
    """Creates a killed `pulumi up` began and never recorded. Every later up keeps them pending (only creates:
    pkg/backend/snapshot.go leaves them for a refresh to settle), though it makes the objects again; measured by
    `make e2e-faults`, a refresh that clears them afterwards leaves the cluster and the state as the program says."""
    if not state.pending_creates:
        return None
    names = ", ".join(state.pending_creates)
    return Finding(
        "warn",
        "interrupted deploy",
        f"stack {stack}'s state still lists {len(state.pending_creates)} create(s) a killed deploy began ({names}); "
        "pulumi up makes them again",
        f"after make up: pulumi refresh --clear-pending-creates --yes --stack {stack}",
    )


@dataclass(frozen=True)
class StateLock:
    """A lock file of a file:// backend: `pulumi up`, `refresh` and `destroy` each hold one while they run and
    delete it when they end (pkg/backend/diy/lock.go); a killed one leaves it behind."""

    pid: int
    hostname: str
    timestamp: str


def backend_dir(backend: str, env: Mapping[str, str]) -> Path | None:
    """The directory of a file:// backend (`~` is the user's home, as the CLI reads it); None for any other."""
    if not backend.startswith("file://"):
        return None
    path = backend.removeprefix("file://")
    if path == "~" or path.startswith("~/"):
        path = env.get("HOME", str(Path.home())) + path[1:]
    return Path(path)


def state_locks(backend: str, stack: str, env: Mapping[str, str]) -> list[StateLock]:
    """The stack's lock files: .pulumi/locks/organization/<project>/<stack>/ (project-scoped stacks), or
    .pulumi/locks/<stack>/ for a backend in the older layout (pkg/backend/diy/lock.go, stackLockDir)."""
    root = backend_dir(backend, env)
    if root is None:
        return []
    locks, base = [], root / ".pulumi" / "locks"
    for directory in (base / "organization" / PROJECT / stack, base / stack):
        for path in sorted(directory.glob("*.json")):
            try:
                doc = json.loads(path.read_text())
                locks.append(StateLock(int(doc["pid"]), str(doc["hostname"]), str(doc["timestamp"])))
            except (OSError, ValueError, KeyError, TypeError):
                locks.append(StateLock(0, "?", f"unreadable lock file {path}"))
    return locks


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return pid > 0


def lock_finding(
    stack: str, locks: list[StateLock], this_host: str, alive: Callable[[int], bool] = process_alive
) -> Finding:
    """Whether a deploy of this stack runs now, or a killed one left its lock (pulumi up would refuse either
    with `pulumi cancel` as the fix, which is wrong advice while the other deploy still runs)."""
    check = "state lock"
    if not locks:
        return Finding("ok", check, f"no other pulumi is changing stack {stack}")
    lock = locks[0]
    since = f"pid {lock.pid}, since {lock.timestamp}"
    if lock.hostname != this_host:
        return Finding(
            "fail",
            check,
            f"stack {stack} is locked by a pulumi on {lock.hostname} ({since})",
            f"wait for it to end; if nothing runs there any more: pulumi cancel --yes --stack {stack}",
        )
    if alive(lock.pid):
        return Finding(
            "fail", check, f"another pulumi is changing stack {stack} right now ({since})", "wait for it to end"
        )
    return Finding(
        "fail",
        check,
        f"stack {stack} is locked by a pulumi that no longer runs ({since}): a deploy was killed before it could "
        "unlock",
        f"pulumi cancel --yes --stack {stack}, then make up STACK={stack}",
    )


def ownership_findings(
    settings: Settings, clusters: Iterable[str] | None, containers: Iterable[str] | None, state: StackState
) -> list[Finding]:
    """A cluster or registry with this stack's name that the stack's state does not list was made by someone else."""
    if settings.cluster_mode != "kind":
        return []
    findings = []
    s = settings.stack
    items = [("kind cluster", settings.kind_cluster_name, clusters, frozenset(state.clusters))]
    if settings.registry_mode == "local":
        items.append(("registry container", settings.registry_name, containers, state.containers))
    for what, name, existing, owned in items:
        check = f"{what} {name}"
        if existing is None:
            findings.append(
                Finding("warn", check, f"could not list existing {what}s", "see the docker/kind lines above")
            )
            continue
        exists = name in set(existing)
        if exists and name in owned:
            findings.append(Finding("ok", check, f"exists and belongs to stack {s}"))
        elif exists and not state.known:
            findings.append(
                Finding("warn", check, f"exists; cannot tell whether stack {s} created it ({state.reason})", "")
            )
        elif exists:
            fix = (
                f"`kind delete cluster --name {name}` if it is disposable, or set another name: "
                f"pulumi config set wal-service:kindClusterName <name> --stack {s}"
                if what == "kind cluster"
                else f"`docker rm -f {name}` if it is disposable, or set another name: "
                f"pulumi config set wal-service:registryName <name> --stack {s}"
            )
            findings.append(Finding("fail", check, f"exists but stack {s} did not create it (not in its state)", fix))
        elif name in owned:
            # A container is read back by refresh (the docker provider has Read); the cluster's command is
            # not (local.Command has no Read), so only replacing that command rebuilds the cluster.
            fix = (
                f"pulumi up --replace '{state.clusters[name]}' --stack {s}, which rebuilds it and everything in it"
                if what == "kind cluster"
                else f"pulumi refresh --yes --stack {s}, then make up STACK={s}"
            )
            findings.append(Finding("warn", check, f"stack {s}'s state lists it but it is gone", fix))
        else:
            findings.append(Finding("ok", check, "does not exist yet; pulumi up creates it"))
    return findings


def host_finding(settings: Settings, addresses: list[str] | None) -> Finding:
    """kind: the host name must resolve to loopback, where the Gateway's host ports are mapped."""
    hint = " ; ".join(stack_mod.resolve_hint(settings))
    host = settings.host
    if settings.cluster_mode != "kind":
        if addresses:
            return Finding("ok", f"host {host}", f"resolves to {', '.join(addresses)}")
        return Finding(
            "warn",
            f"host {host}",
            "does not resolve yet",
            "point its DNS record at the address of the route (Gateway or Ingress)",
        )
    if addresses and all(ipaddress.ip_address(a).is_loopback for a in addresses):
        return Finding("ok", f"host {host}", f"resolves to {', '.join(addresses)}")
    found = f"resolves to {', '.join(addresses)}, not 127.0.0.1" if addresses else "does not resolve"
    return Finding("warn", f"host {host}", found, hint)


# --------------------------------------------------------------------------------------------- I/O
def port_busy(port: int, host: str = "127.0.0.1") -> bool:
    """True when something listens on host:port (bind test; connect test for privileged ports)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        if sys.platform.startswith("linux"):
            # Linux still refuses a port with a listener; this only ignores TIME_WAIT leftovers.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
            return False
        except PermissionError:
            pass  # below 1024 without privileges: ask whether anyone answers instead
        except OSError as exc:
            return exc.errno in (errno.EADDRINUSE, errno.EACCES)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex((host, port)) == 0


def resolve(host: str) -> list[str] | None:
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return None
    return sorted({str(info[4][0]) for info in infos})


def _stdout(result: Result | None) -> str | None:
    return result.stdout if result and result.ok else None


def _lines(result: Result | None) -> list[str] | None:
    return [line.strip() for line in result.stdout.splitlines() if line.strip()] if result and result.ok else None


def read_state(stack: str, env: Mapping[str, str]) -> StackState:
    result = run(["pulumi", "stack", "export", "--stack", stack], env=env, timeout=60)
    if result is None:
        return StackState(False, reason="pulumi is not installed yet")
    if not result.ok:
        text = (result.stderr + result.stdout).lower()
        if "no stack named" in text or "not found" in text:
            return StackState(True)  # no state at all: the stack created nothing
        return StackState(False, reason=f"pulumi stack export failed: {result.first_error_line()}")
    try:
        return state_from_export(json.loads(result.stdout))
    except (json.JSONDecodeError, AttributeError):
        return StackState(False, reason="pulumi stack export gave no JSON")


@dataclass
class Probes:
    """The machine-facing side, replaceable in tests."""

    busy: Callable[[int], bool] = port_busy
    resolve: Callable[[str], list[str] | None] = resolve


def image_finding(settings: Settings) -> Finding | None:
    """An all-zero digest names no image: the pods would sit in ImagePullBackOff until the rollout times out."""
    promote = promote_command(settings)
    if promote is None:
        return None
    return Finding(
        "fail",
        "imageRef",
        f"{settings.image_ref} is the all-zero placeholder digest, which no registry serves: the pods would "
        "never pull it",
        f"{promote} (promote what staging tested)",
    )


def backend_finding(settings: Settings, env: Mapping[str, str]) -> Finding:
    """The state backend this shell would use: the one the stack's stateBackend names, when it names one."""
    backend = effective_backend(env)
    problem = backend_problem(settings, backend)
    if problem is None:
        return Finding("ok", "state", f"backend {backend}")
    return Finding(
        "fail",
        "state",
        f"stack {settings.stack} keeps its state in {settings.state_backend}, but this shell uses {backend}",
        f"export PULUMI_BACKEND_URL={settings.state_backend}",
    )


def preflight(
    stack: str,
    env: Mapping[str, str] | None = None,
    probes: Probes | None = None,
    settings: Settings | None = None,
) -> list[Finding]:
    """Every finding, blocking or not, so that one run lists every problem (settings: an override for tests).

    Docker comes first; checks that need an answer from a failed one are reported as skipped, not guessed."""
    env = dict(env) if env is not None else tool_env()
    probes = probes or Probes()
    if settings is None:
        try:
            settings = stack_mod.load(stack)
        except UserError as exc:
            return [Finding("fail", "config", str(exc), f"fix Pulumi.{stack}.yaml")]
    findings: list[Finding] = []
    needs_docker = settings.cluster_mode == "kind" or not settings.image_ref
    docker_ok = True
    if needs_docker:
        docker = docker_finding(run(["docker", "info"], env=env, timeout=20))
        docker_ok = docker.level == "ok"
        findings.append(docker)
        if docker_ok and settings.cluster_mode == "kind":
            findings += filter(None, [cgroup_finding(probe(lambda cmd: _stdout(run(cmd, env=env, timeout=20))))])
    backend = backend_finding(settings, env)
    findings.append(backend)
    where = effective_backend(env)
    if backend.level == "ok" and backend_dir(where, env) is not None:
        findings.append(lock_finding(stack, state_locks(where, stack, env), socket.gethostname()))
    findings += filter(None, [image_finding(settings)])
    tools = ("kind", "kubectl", "pulumi") if settings.cluster_mode == "kind" else ("kubectl", "pulumi")
    statuses = {name: check_tool(name, env, settings.kubernetes_minor) for name in tools}
    findings += [tool_finding(status) for status in statuses.values()]
    state = read_state(stack, stack_mod.pulumi_env(stack, env))
    findings += filter(None, [pending_finding(stack, state)])

    if settings.cluster_mode == "kind":
        ps = run(["docker", "ps", "--format", "{{.Names}}\t{{.Ports}}"], env=env, timeout=20) if docker_ok else None
        findings += port_findings(settings, probes.busy, published_ports(ps.stdout if ps and ps.ok else ""))
        if docker_ok:
            clusters = _lines(run(["kind", "get", "clusters"], env=env, timeout=20)) if statuses["kind"].path else None
            names = _lines(run(["docker", "ps", "-a", "--format", "{{.Names}}"], env=env, timeout=20))
            findings += ownership_findings(settings, clusters, names, state)
        else:
            findings.append(
                Finding("warn", "existing clusters", "not checked: they are listed through Docker", "see docker above")
            )
    findings.append(host_finding(settings, probes.resolve(settings.host)))
    return findings


@cli
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check this machine before `pulumi up`.")
    parser.add_argument("--stack", default="dev")
    args = parser.parse_args(argv)
    findings = preflight(args.stack)
    for finding in findings:
        print(finding.line())
    failed = any(f.level == "fail" for f in findings)
    if not failed:
        settings = stack_mod.load(args.stack)
        for line in stack_mod.resolve_hint(settings):
            print(f"     {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(None))
