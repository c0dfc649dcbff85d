"""DockerHost: the Docker daemon the `docker` CLI talks to, asked once when the program starts.

kind and every `docker` command in the stack's scripts follow the CLI's current context (or DOCKER_HOST); the
docker provider reads DOCKER_HOST or fixed socket paths and never the context (pulumi-docker provider/image.go,
configureDockerClient). On a host with Docker Engine and Docker Desktop (context desktop-linux) the registry
would land on one daemon and the cluster on the other; handing the CLI's endpoint to an explicit provider keeps
them on one.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

Runner = Callable[[Sequence[str]], "str | None"]
"""Runs a command; its stdout, or None when it failed or could not start."""


@dataclass(frozen=True)
class DockerHost:
    endpoint: str
    """What `docker` talks to (unix:///var/run/docker.sock, ssh://..., tcp://...); "" when the CLI could not say,
    and the provider falls back on its own rules."""
    cgroup_version: str
    """The daemon's cgroup version ("1" or "2"); "" when the daemon did not answer."""

    @property
    def cgroup_v1(self) -> bool:
        return self.cgroup_version == "1"


def _run(command: Sequence[str]) -> str | None:
    try:
        result = subprocess.run(list(command), capture_output=True, text=True, check=False, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def probe(run: Runner = _run) -> DockerHost:
    """Ask the docker CLI: `docker context inspect` resolves DOCKER_HOST, DOCKER_CONTEXT and the current context
    exactly as `docker` does and needs no daemon; `docker info` needs one."""

    def ask(*args: str) -> str:
        return (run(["docker", *args]) or "").strip()

    return DockerHost(
        endpoint=ask("context", "inspect", "--format", "{{.Endpoints.docker.Host}}"),
        cgroup_version=ask("info", "--format", "{{.CgroupVersion}}"),
    )


def is_local(host: DockerHost | None) -> bool:
    """The daemon listens on a local socket (or the CLI could not say, and the default one is local)."""
    return host is None or not host.endpoint or host.endpoint.startswith(("unix://", "npipe://"))
