"""Fake CLIs for the ops tests: small shell scripts on a PATH of their own."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest

from ops.proc import Result

SCRIPTS = {
    "docker": """#!/bin/sh
case "$1" in
  info)
    if [ -n "$FAKE_DOCKER_DOWN" ]; then
      echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?" >&2
      exit 1
    fi
    if [ "$2" = --format ]; then echo "${FAKE_DOCKER_CGROUP:-2}"; exit 0; fi
    echo "Server Version: 28.5.1"; exit 0 ;;
  context) echo "${FAKE_DOCKER_ENDPOINT:-unix:///var/run/docker.sock}"; exit 0 ;;
  ps)
    if [ "$2" = "-a" ]; then printf '%s' "$FAKE_DOCKER_ALL"; else printf '%s' "$FAKE_DOCKER_PS"; fi
    exit 0 ;;
esac
exit 0
""",
    "kind": """#!/bin/sh
case "$1" in
  version) echo "kind ${FAKE_KIND_VERSION:-v0.33.0} go1.24.2 linux/amd64" ;;
  get) printf '%s' "$FAKE_KIND_CLUSTERS" ;;
esac
exit 0
""",
    "kubectl": """#!/bin/sh
v="${FAKE_KUBECTL_VERSION:-v1.37.1}"
printf '{"clientVersion":{"major":"1","minor":"37","gitVersion":"%s"},"kustomizeVersion":"v5.7.1"}\\n' "$v"
exit 0
""",
    "pulumi": """#!/bin/sh
case "$1" in
  version) echo "${FAKE_PULUMI_VERSION:-v3.274.1}"; exit 0 ;;
  stack)
    if [ -n "$FAKE_PULUMI_ERROR" ]; then echo "$FAKE_PULUMI_ERROR" >&2; exit 255; fi
    if [ -n "$FAKE_PULUMI_STATE" ]; then printf '%s' "$FAKE_PULUMI_STATE"; exit 0; fi
    echo "error: no stack named 'dev' found" >&2; exit 255 ;;
esac
exit 0
""",
}

MakeTools = Callable[..., dict[str, str]]


@pytest.fixture
def make_tools(tmp_path: Path) -> MakeTools:
    """Write fake CLIs (all by default) and return an environment whose PATH holds only them."""

    def make(*names: str, **env: str) -> dict[str, str]:
        fake_bin = tmp_path / "fakebin"
        fake_bin.mkdir(exist_ok=True)
        for name in names or tuple(SCRIPTS):
            script = fake_bin / name
            script.write_text(SCRIPTS[name])
            script.chmod(script.stat().st_mode | stat.S_IXUSR)
        return {"PATH": str(fake_bin), "HOME": str(tmp_path), **env}

    return make


class Commands:
    """Stand-ins for ops.proc.run and ops.proc.stream that record each command and succeed."""

    def __init__(self) -> None:
        self.ran: list[list[str]] = []

    def run(self, args: list[str], **_kwargs: object) -> Result:
        self.ran.append(list(args))
        return Result(0, "", "")

    def stream(self, args: list[str], **_kwargs: object) -> int:
        self.ran.append(list(args))
        return 0


@pytest.fixture
def commands() -> Commands:
    return Commands()
