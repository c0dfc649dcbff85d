"""HpaHandover: with autoscaling off, the HPA is deleted before the Deployment takes spec.replicas back."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from components.hpa_handover import DELETE_SCRIPT

if TYPE_CHECKING:
    from conftest import MockRuns, StackRun


def run_delete(tmp_path: Path, kubectl_exit: int = 0, autoscaling: str = "false") -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f'#!/bin/sh\nprintf "%s\\n" "$*" >> {tmp_path}/calls\nexit {kubectl_exit}\n')
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "NAMESPACE": "wal-service-dev",
        "HPA": "wal-service",
        "AUTOSCALING": autoscaling,
        "KUBE_CONTEXT": "kind-wal-service-cluster",
        "KUBECONFIG_PATH": "/home/u/.kube/kind-wal-service-cluster.yaml",
    }
    return subprocess.run(["sh", "-c", DELETE_SCRIPT], env=environment, capture_output=True, text=True, check=False)


def test_the_script_deletes_the_named_hpa_and_accepts_its_absence(tmp_path: Path) -> None:
    proc = run_delete(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "calls").read_text().splitlines() == [
        "--context kind-wal-service-cluster --kubeconfig /home/u/.kube/kind-wal-service-cluster.yaml "
        "--namespace wal-service-dev delete horizontalpodautoscalers.autoscaling wal-service --ignore-not-found --wait"
    ]


def test_with_autoscaling_on_the_script_leaves_the_hpa_alone(tmp_path: Path) -> None:
    proc = run_delete(tmp_path, autoscaling="true")
    assert proc.returncode == 0, proc.stderr
    assert not (tmp_path / "calls").exists(), "kubectl was called with autoscaling on"


def test_an_unreachable_cluster_fails_the_command(tmp_path: Path) -> None:
    """The Deployment must not change while an HPA may still be running."""
    proc = run_delete(tmp_path, kubectl_exit=1)
    assert proc.returncode == 1
    assert "HorizontalPodAutoscaler wal-service-dev/wal-service could not be deleted" in proc.stderr, proc.stderr
    assert (
        "check with: kubectl --kubeconfig /home/u/.kube/kind-wal-service-cluster.yaml "
        "--context kind-wal-service-cluster get hpa -n wal-service-dev"
    ) in proc.stderr, proc.stderr


def handover_command(run: StackRun) -> dict[str, object] | None:
    matches = [r for r in run.registrations if r["name"].endswith("-hpa-handover-delete-hpa")]
    assert len(matches) <= 1, [r["name"] for r in matches]
    return matches[0] if matches else None


def test_with_autoscaling_off_the_deployment_waits_for_the_hpa_to_be_gone(mockruns: MockRuns) -> None:
    fixed = mockruns.get("dev", ("wal-service:autoscaling=false",))
    command = handover_command(fixed)
    assert command is not None, "no HPA handover with autoscaling off"
    deployment = fixed.one("Deployment", "ServiceWorkload")
    assert command["urn"] in deployment.registration["dependencies"], "the Deployment may change before the HPA goes"
    # It deletes exactly the HPA an autoscaled run of the same stack creates.
    hpa = mockruns.get("dev", ("wal-service:autoscaling=true",)).one("HorizontalPodAutoscaler").metadata
    environment = command["inputs"]["environment"]  # type: ignore[index]
    assert (environment["NAMESPACE"], environment["HPA"]) == (hpa["namespace"], hpa["name"]), environment


def test_every_switch_of_mode_runs_the_command_again(mockruns: MockRuns) -> None:
    """Its trigger is the mode, so a switch to off deletes the HPA even when the last switch to on failed
    halfway and left the off-era command in the state."""
    on = handover_command(mockruns.get("dev", ("wal-service:autoscaling=true",)))
    off = handover_command(mockruns.get("dev", ("wal-service:autoscaling=false",)))
    assert on is not None and off is not None
    assert on["inputs"]["triggers"] != off["inputs"]["triggers"], (on["inputs"], off["inputs"])  # type: ignore[index]
    assert on["inputs"]["environment"]["AUTOSCALING"] == "true"  # type: ignore[index]
    assert off["inputs"]["environment"]["AUTOSCALING"] == "false"  # type: ignore[index]
