"""HostClaimCheck's script, run for real against a fake kubectl that answers like a cluster."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from components.host_claim import CHECK_SCRIPT

HOST = "dev.wal-service.local"
OURS = "wal-service-dev"
GATEWAY_API = "httproutes.gateway.networking.k8s.io\ngateways.gateway.networking.k8s.io\n"

# The fake kubectl: `api-resources` prints $TMP/api, `get gatewayclasses|gateways` succeeds when
# $TMP/parent exists, `get <kinds> --all-namespaces` prints $TMP/listing; every call is logged.
FAKE_KUBECTL = """#!/bin/sh
printf "%s\\n" "$*" >> {tmp}/calls
case "$*" in
  *api-resources*) cat {tmp}/api ;;
  *" get gatewayclasses."*|*" get gateways."*)
    [ -e {tmp}/parent ] || {{ echo 'Error from server (NotFound)' >&2; exit 1; }} ;;
  *) cat {tmp}/listing ;;
esac
"""


def run_check(
    tmp_path: Path, listing: str = "", api: str = GATEWAY_API, parent: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    (tmp_path / "listing").write_text(listing)
    (tmp_path / "api").write_text(api)
    if parent:
        (tmp_path / "parent").touch()
    kubectl = bin_dir / "kubectl"
    kubectl.write_text(FAKE_KUBECTL.format(tmp=tmp_path))
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    environment = {
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "HOST": HOST,
        "INSTANCE": OURS,
        "ROUTING": "gateway",
        "KUBE_CONTEXT": "kind-wal-service-cluster",
        "KUBECONFIG_PATH": "",
        "GATEWAY_CLASS": "nginx",
        "GATEWAY_NAMESPACE": "nginx-gateway",
        "GATEWAY_NAME": "wal-service",
        "GATEWAY_API_VERSION": "v1.5.1",
        **env,
    }
    return subprocess.run(["sh", "-c", CHECK_SCRIPT], env=environment, capture_output=True, text=True, check=False)


def calls(tmp_path: Path) -> list[str]:
    return (tmp_path / "calls").read_text().splitlines()


def test_host_of_another_stacks_httproute_is_refused_naming_it(tmp_path: Path) -> None:
    listing = f"HTTPRoute\tdefault/legacy\t\tother.local {HOST} \nHTTPRoute\t{OURS}/wal-service\t{OURS}\t{HOST} \n"
    proc = run_check(tmp_path, listing)
    assert proc.returncode == 1
    assert f"host {HOST} is already claimed by HTTPRoute default/legacy," in proc.stderr
    assert f"{OURS}/wal-service" not in proc.stderr, "our own route is not a conflict"
    assert "wal-service:host" in proc.stderr


def test_an_ingress_claims_the_host_in_gateway_mode_too(tmp_path: Path) -> None:
    proc = run_check(tmp_path, f"Ingress\tlegacy/old-ingress\twal-service-staging\t{HOST.upper()} \n")
    assert proc.returncode == 1
    assert "claimed by Ingress legacy/old-ingress" in proc.stderr, "another stack's instance is not ours"
    assert any("ingresses.networking.k8s.io,httproutes.gateway.networking.k8s.io" in c for c in calls(tmp_path))


@pytest.mark.parametrize(
    "listing",
    [
        "",
        f"Ingress\twal-service-old/wal-service-ingress\t{OURS}\t{HOST} \n",  # ours, left in a renamed namespace
        f"HTTPRoute\t{OURS}/wal-service\t{OURS}\t{HOST} \n",  # our own route on a re-run
        f"HTTPRoute\tdefault/other\t\tnot-{HOST} {HOST}.example *.wal-service.local \n",  # other hosts
    ],
)
def test_free_host_passes(tmp_path: Path, listing: str) -> None:
    proc = run_check(tmp_path, listing)
    assert proc.returncode == 0, proc.stderr
    assert f"host {HOST} is free" in proc.stdout


def test_gateway_mode_without_the_crds_names_the_bundle_to_install(tmp_path: Path) -> None:
    proc = run_check(tmp_path, api="")
    assert proc.returncode == 1
    assert "no Gateway API CRDs" in proc.stderr
    assert "releases/download/v1.5.1/standard-install.yaml" in proc.stderr
    assert "wal-service:routing to ingress" in proc.stderr


def test_ingress_mode_without_the_crds_checks_ingresses_only(tmp_path: Path) -> None:
    proc = run_check(tmp_path, f"Ingress\tdefault/x\t\t{HOST} \n", api="", ROUTING="ingress")
    assert proc.returncode == 1
    assert "claimed by Ingress default/x" in proc.stderr
    listing_call = [c for c in calls(tmp_path) if "--all-namespaces" in c]
    assert listing_call and "httproutes" not in listing_call[0]


def test_missing_gateway_class_is_refused(tmp_path: Path) -> None:
    proc = run_check(tmp_path, parent=False)
    assert proc.returncode == 1
    assert "GatewayClass nginx does not exist" in proc.stderr
    assert "wal-service:gatewayClassName" in proc.stderr


def test_shared_gateway_must_exist(tmp_path: Path) -> None:
    proc = run_check(tmp_path, parent=False, GATEWAY_CLASS="", GATEWAY_NAMESPACE="infra", GATEWAY_NAME="shared")
    assert proc.returncode == 1
    assert "Gateway infra/shared does not exist" in proc.stderr
    assert any("-n infra get gateways.gateway.networking.k8s.io shared" in c for c in calls(tmp_path))


def test_kubeconfig_contents_go_to_a_temporary_file_that_is_removed(tmp_path: Path) -> None:
    proc = run_check(tmp_path, KUBECONFIG_DATA="apiVersion: v1\nkind: Config\n")
    assert proc.returncode == 0, proc.stderr
    args = calls(tmp_path)[-1].split()
    assert args[:2] == ["--context", "kind-wal-service-cluster"]
    config = Path(args[args.index("--kubeconfig") + 1])
    assert not config.exists(), "the kubeconfig copy must not outlive the check"


def test_kubectl_failure_fails_the_check(tmp_path: Path) -> None:
    """An unreachable cluster must not read as "no route claims the host"."""
    broken = tmp_path / "broken"
    broken.mkdir()
    kubectl = broken / "kubectl"
    kubectl.write_text("#!/bin/sh\necho 'Unable to connect to the server' >&2\nexit 1\n")
    kubectl.chmod(kubectl.stat().st_mode | stat.S_IEXEC)
    for routing in ("gateway", "ingress"):
        proc = run_check(tmp_path, ROUTING=routing, PATH=f"{broken}:{os.environ['PATH']}")
        assert proc.returncode != 0, routing
        assert "is free" not in proc.stdout
