"""HostClaimCheck's script, run for real against a fake kubectl that lists the cluster's Ingresses."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from components.host_claim import CHECK_SCRIPT

HOST = "dev.wal-service.local"
OURS = "wal-service-dev"


def run_check(tmp_path: Path, listing: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the check with `kubectl` replaced by a script that prints `listing` and records its arguments."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (tmp_path / "listing").write_text(listing)
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(f'#!/bin/sh\necho "$@" > {tmp_path}/args\ncat {tmp_path}/listing\n')
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOST": HOST,
        "NAMESPACE": OURS,
        "KUBE_CONTEXT": "kind-wal-service-cluster",
        "KUBECONFIG_PATH": "",
        **env,
    }
    return subprocess.run(["sh", "-c", CHECK_SCRIPT], env=environment, capture_output=True, text=True, check=False)


def test_host_claimed_by_another_namespace_is_refused_naming_both(tmp_path: Path) -> None:
    listing = f"default\tlegacy-ingress\tother.local {HOST} \n{OURS}\twal-service-ingress\t{HOST} \n"
    proc = run_check(tmp_path, listing)
    assert proc.returncode == 1
    assert f"host {HOST} is already claimed by Ingress default/legacy-ingress" in proc.stderr
    assert f"our Ingress: {OURS}" in proc.stderr
    assert "wal-service:host" in proc.stderr


@pytest.mark.parametrize(
    "listing",
    [
        "",
        f"{OURS}\twal-service-ingress\t{HOST} \n",  # our own Ingress on a re-run
        f"default\tother\tnot-{HOST} {HOST}.example \n",  # similar names are not the same host
    ],
)
def test_free_host_passes(tmp_path: Path, listing: str) -> None:
    proc = run_check(tmp_path, listing)
    assert proc.returncode == 0, proc.stderr
    assert f"host {HOST} is free" in proc.stdout


def test_kubeconfig_contents_go_to_a_temporary_file_that_is_removed(tmp_path: Path) -> None:
    proc = run_check(tmp_path, "", KUBECONFIG_DATA="apiVersion: v1\nkind: Config\n")
    assert proc.returncode == 0, proc.stderr
    args = (tmp_path / "args").read_text().split()
    assert args[:2] == ["--context", "kind-wal-service-cluster"]
    config = Path(args[args.index("--kubeconfig") + 1])
    assert not config.exists(), "the kubeconfig copy must not outlive the check"


def test_kubectl_failure_fails_the_check(tmp_path: Path) -> None:
    """An unreachable cluster must not read as "no Ingress claims the host"."""
    broken = tmp_path / "broken"
    broken.mkdir()
    kubectl = broken / "kubectl"
    kubectl.write_text("#!/bin/sh\necho 'Unable to connect to the server' >&2\nexit 1\n")
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    proc = run_check(tmp_path, "", PATH=f"{broken}:{os.environ['PATH']}")
    assert proc.returncode != 0
    assert "is free" not in proc.stdout
