"""Which Docker daemon the program's docker resources go to: the one the docker CLI (and kind) uses."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

import pytest

from components.docker_host import DockerHost, is_local, probe
from tests.conftest import MockRuns
from tools.mockrun import MOCK_DOCKER_ENDPOINT


def answers(replies: dict[str, str | None]) -> tuple[list[list[str]], object]:
    asked: list[list[str]] = []

    def run(command: Sequence[str]) -> str | None:
        asked.append(list(command))
        return replies[command[1]]

    return asked, run


def test_probe_reads_the_clis_endpoint_and_the_daemons_cgroup_version() -> None:
    asked, run = answers({"context": "unix:///home/me/.docker/desktop/docker.sock\n", "info": "1\n"})
    host = probe(run)  # type: ignore[arg-type]
    assert host == DockerHost(endpoint="unix:///home/me/.docker/desktop/docker.sock", cgroup_version="1")
    assert host.cgroup_v1
    assert asked == [
        ["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"],
        ["docker", "info", "--format", "{{.CgroupVersion}}"],
    ]


def test_a_daemon_that_does_not_answer_leaves_the_cgroup_version_unknown() -> None:
    _, run = answers({"context": "unix:///var/run/docker.sock\n", "info": None})
    host = probe(run)  # type: ignore[arg-type]
    assert host == DockerHost(endpoint="unix:///var/run/docker.sock", cgroup_version="")
    assert not host.cgroup_v1, "unknown is not v1: the kind config stays as on every cgroup v2 host"


@pytest.mark.skipif(shutil.which("docker") is None, reason="needs the docker CLI (not the daemon)")
def test_the_real_cli_resolves_the_current_context_like_docker_desktop_sets_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Docker Desktop beside Docker Engine: `docker context use desktop-linux` moves the CLI, and kind with it, to
    another socket; the provider must follow, though DOCKER_HOST is unset."""
    socket = f"unix://{tmp_path}/desktop.sock"
    env = {**os.environ, "DOCKER_CONFIG": str(tmp_path / "config")}
    env.pop("DOCKER_HOST", None)
    env.pop("DOCKER_CONTEXT", None)
    for args in (
        ["context", "create", "desktop-linux", "--docker", f"host={socket}"],
        ["context", "use", "desktop-linux"],
    ):
        subprocess.run(["docker", *args], env=env, check=True, capture_output=True, timeout=30)
    for key in ("DOCKER_HOST", "DOCKER_CONTEXT"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("DOCKER_CONFIG", env["DOCKER_CONFIG"])
    assert probe().endpoint == socket
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    assert probe().endpoint == "tcp://127.0.0.1:1", "DOCKER_HOST wins over the context, for docker as for kind"


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_every_docker_resource_goes_to_the_clis_daemon(mockruns: MockRuns, stack: str) -> None:
    run = mockruns.get(stack)
    providers = [r for r in run.registrations if r["type"] == "pulumi:providers:docker"]
    assert len(providers) == 1, [r["name"] for r in providers]
    assert providers[0]["inputs"]["host"] == MOCK_DOCKER_ENDPOINT
    docker = [r for r in run.registrations if r["custom"] and r["type"].startswith("docker:")]
    assert {r["type"] for r in docker} >= {"docker:index/container:Container", "docker:index/image:Image"}
    for r in docker:
        assert r["provider"].rsplit("::", 1)[0] == providers[0]["urn"], f"{r['urn']} uses {r['provider']!r}"


def test_a_promoted_image_on_an_existing_cluster_needs_no_docker(mockruns: MockRuns) -> None:
    run = mockruns.get("prod")
    assert not [r["type"] for r in run.registrations if r["type"].startswith(("docker:", "pulumi:providers:docker"))]


@pytest.mark.parametrize(
    ("endpoint", "local"),
    [
        ("unix:///var/run/docker.sock", True),
        ("npipe:////./pipe/docker_engine", True),
        ("", True),
        ("ssh://builder@build-host", False),
        ("tcp://10.0.0.5:2376", False),
    ],
)
def test_only_a_daemon_on_this_machine_shares_our_loopback(endpoint: str, local: bool) -> None:
    assert is_local(DockerHost(endpoint=endpoint, cgroup_version="2")) is local
