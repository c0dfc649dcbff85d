"""The throwaway control plane: ports that cannot collide, a dead kube-apiserver reported at once, and nodes that
can hold the stack."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from components.validators import amount
from e2e import controlplane
from e2e.controlplane import ControlPlane, free_ports, make_pki, node_manifest

if TYPE_CHECKING:
    from conftest import MockRuns


class Kernel:
    """bind(port 0) hands out the lowest port no open socket holds, which a real kernel may also do."""

    def __init__(self) -> None:
        self.bound: set[int] = set()

    def socket(self, *_: Any) -> Socket:
        return Socket(self)


class Socket:
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.port: int | None = None

    def bind(self, address: tuple[str, int]) -> None:
        self.port = min(set(range(30000, 30100)) - self.kernel.bound)
        self.kernel.bound.add(self.port)

    def getsockname(self) -> tuple[str, int]:
        assert self.port is not None
        return ("127.0.0.1", self.port)

    def close(self) -> None:
        self.kernel.bound.discard(self.port or 0)

    def __enter__(self) -> Socket:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def test_ports_are_distinct_even_when_the_kernel_reuses_released_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(controlplane.socket, "socket", Kernel().socket)
    ports = free_ports(3)
    assert len(set(ports)) == 3, ports


def test_a_kube_apiserver_that_exits_is_reported_with_its_last_log_line(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "kube-apiserver"
    fake.write_text("#!/bin/sh\necho 'listen tcp 127.0.0.1:1: bind: address already in use'\nexit 1\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    plane = ControlPlane(root=tmp_path / "cluster", bin_dir=bin_dir)
    plane.root.mkdir()
    make_pki(plane.pki)
    proc = plane._start("kube-apiserver", ["kube-apiserver"])
    proc.wait(timeout=30)
    (port,) = free_ports(1)
    with pytest.raises(RuntimeError, match=r"exited with status 1: .*address already in use"):
        plane._wait_ready(f"https://127.0.0.1:{port}", timeout=300, watched={"kube-apiserver": proc})


def test_a_kwok_node_has_room_for_everything_the_dev_quota_admits(mockruns: MockRuns) -> None:
    """The scheduler refuses a pod whose request names a resource the node does not list (Insufficient ...)."""
    allocatable = json.loads(node_manifest("kwok-node-0"))["status"]["allocatable"]
    run = mockruns.get("dev")
    requested = {
        res
        for workload in [*run.objects("Deployment"), *run.objects("StatefulSet")]
        for spec in [workload.spec["template"]["spec"]]
        for container in [*spec["containers"], *(spec.get("initContainers") or [])]
        for res in container["resources"]["requests"]
    }
    assert requested >= {"cpu", "memory", "ephemeral-storage"}, requested
    hard = run.one("ResourceQuota").spec["hard"]
    for res in requested:
        assert res in allocatable, f"the kwok node lists no {res}: every pod requesting it stays Pending"
        assert amount(allocatable[res]) >= amount(hard[f"requests.{res}"]), f"{res}: {allocatable[res]} < quota"
