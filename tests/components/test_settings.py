"""Settings: every bad value stops the program before any resource exists.

Each case runs the real program under mocks with one override, as a user's
`pulumi config set` would, and expects exit 2, one error line naming
`wal-service:<key>`, the bad value and what is allowed, and zero registrations.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.conftest import PROD_API_KEYS

if TYPE_CHECKING:
    from collections.abc import Callable
    from subprocess import CompletedProcess

    from conftest import MockRuns


@dataclass(frozen=True)
class Bad:
    stack: str
    sets: tuple[str, ...]
    key: str
    """The key the message must name, without the project prefix."""
    value: str | None
    """The bad value as the message must quote it (None: the value is empty)."""
    allowed: str
    """A fragment of the message that says what is allowed."""


CASES = {
    "wrong-type": Bad("dev", ("wal-service:replicas=abc",), "replicas", "'abc'", "valid integer"),
    "negative-replicas": Bad("dev", ("wal-service:replicas=-1",), "replicas", "'-1'", "greater than or equal to 1"),
    "bad-quantity": Bad("dev", ("wal-service:memoryRequest=512MB",), "memoryRequest", "'512MB'", "256Mi"),
    "host-not-dns": Bad("dev", ("wal-service:host=not_a_host",), "host", "'not_a_host'", "DNS name"),
    "namespace-not-dns1123": Bad("dev", ("wal-service:namespace=Bad_NS",), "namespace", "'Bad_NS'", "DNS-1123 label"),
    "cpu-limit-below-request": Bad(
        "dev", ("wal-service:cpuLimit=50m",), "cpuLimit", "'50m'", "limits must be >= requests"
    ),
    "memory-limit-below-request": Bad(
        "staging", ("wal-service:memoryLimit=128Mi",), "memoryLimit", "'128Mi'", "limits must be >= requests"
    ),
    "ephemeral-storage-limit-below-request": Bad(
        "dev",
        ("wal-service:ephemeralStorageLimit=64Mi",),
        "ephemeralStorageLimit",
        "'64Mi'",
        "limits must be >= requests",
    ),
    "bad-ephemeral-storage-quantity": Bad(
        "prod", ("wal-service:ephemeralStorageRequest=1GB",), "ephemeralStorageRequest", "'1GB'", "256Mi"
    ),
    "min-above-max": Bad(
        "dev",
        ("wal-service:autoscaling=true", "wal-service:minReplicas=5", "wal-service:maxReplicas=3"),
        "minReplicas",
        "5",
        "min <= max",
    ),
    "rewrite-target": Bad(
        "dev",
        ('wal-service:ingressAnnotations=["nginx.ingress.kubernetes.io/rewrite-target=/$2"]',),
        "ingressAnnotations",
        "rewrite-target=/$2",
        "pathType Prefix",
    ),
    "use-regex": Bad(
        "staging",
        ('wal-service:ingressAnnotations=["nginx.ingress.kubernetes.io/use-regex=true"]',),
        "ingressAnnotations",
        "use-regex=true",
        "pathType Prefix",
    ),
    # The snippet family injects raw NGINX configuration into the shared controller (CVE-2021-25742).
    **{
        f"{kind}-snippet": Bad(
            "prod",
            (f'wal-service:ingressAnnotations=["nginx.ingress.kubernetes.io/{kind}-snippet=return 200;"]',),
            "ingressAnnotations",
            f"nginx.ingress.kubernetes.io/{kind}-snippet",
            "CVE-2021-25742",
        )
        for kind in ("configuration", "server", "auth")
    },
    # Default-deny policies and Pod Security labels on a system namespace would cut the cluster off.
    **{
        f"system-namespace-{ns}": Bad(
            "dev", (f"wal-service:namespace={ns}",), "namespace", f"'{ns}'", "system namespace"
        )
        for ns in ("kube-system", "default", "kube-public", "kube-node-lease", "kube-flannel")
    },
    "namespace-of-the-gateway": Bad(
        "dev", ("wal-service:namespace=nginx-gateway",), "namespace", "'nginx-gateway'", "is also gatewayNamespace"
    ),
    "namespace-of-the-ingress-controller": Bad(
        "prod", ("wal-service:namespace=ingress-nginx",), "namespace", "'ingress-nginx'", "ingressControllerNamespace"
    ),
    "state-backend-not-a-url": Bad(
        "dev", ("wal-service:stateBackend=team-bucket",), "stateBackend", "'team-bucket'", "https://api.pulumi.com"
    ),
    # Stacks side by side on one Docker host: the program checks the other stack files, not only the tests.
    "kind-cluster-of-another-stack": Bad(
        "dev",
        ("wal-service:kindClusterName=wal-service-staging",),
        "kindClusterName",
        "'wal-service-staging'",
        "stack staging's kindClusterName (Pulumi.staging.yaml)",
    ),
    "registry-of-another-stack": Bad(
        "dev",
        ("wal-service:registryName=kind-registry-staging",),
        "registryName",
        "'kind-registry-staging'",
        "each needs its own",
    ),
    "registry-port-of-another-stack": Bad(
        "dev", ("wal-service:registryPort=6001",), "registryPort", "6001", "stack staging's registryPort"
    ),
    "ingress-port-another-stack-uses-for-https": Bad(
        "dev", ("wal-service:ingressHttpPort=8444",), "ingressHttpPort", "8444", "stack staging's ingressHttpsPort"
    ),
    "host-of-another-stack": Bad(
        "staging", ("wal-service:host=wal-service.example.com",), "host", "'wal-service.example.com'", "stack prod's"
    ),
    "unknown-key": Bad("dev", ("wal-service:replicaz=3",), "replicaz", None, "declared keys are listed in Pulumi.yaml"),
    "grace-period-too-short": Bad(
        "dev",
        ("wal-service:terminationGracePeriodSeconds=20",),
        "terminationGracePeriodSeconds",
        "20",
        "must exceed preStopSeconds + drainSeconds + shutdownTimeoutSeconds = 20",
    ),
    "production-without-tls": Bad("prod", ("wal-service:tlsSecretName=",), "tlsSecretName", None, "must use TLS"),
    "image-latest": Bad(
        "prod",
        ("wal-service:imageRef=registry.example.com/wal-service:latest",),
        "imageRef",
        "'registry.example.com/wal-service:latest'",
        "digest",
    ),
    # prod's file as committed: `pulumi up` before anything is promoted.
    "placeholder-digest": Bad(
        "prod",
        (f"wal-service:imageRef=registry.example.com/wal-service@sha256:{'0' * 64}",),
        "imageRef",
        None,
        "all-zero placeholder digest, which no registry serves; run: pulumi config set wal-service:imageRef "
        '"registry.example.com/wal-service@$(pulumi stack output imageDigest -s staging)" -s prod',
    ),
    "json-depth-beyond-the-service": Bad(
        "dev", ("wal-service:maxJsonDepth=1000",), "maxJsonDepth", "1000", "less than or equal to 512"
    ),
    "inflight-below-body": Bad(
        "dev",
        ("wal-service:maxInflightBytes=4096",),
        "maxInflightBytes",
        "4096",
        "is below maxBodyBytes 1048576",
    ),
    "no-connections": Bad("dev", ("wal-service:maxConnections=0",), "maxConnections", "0", "greater than or equal"),
    "existing-without-context": Bad(
        "prod", ("wal-service:kubeContext=",), "kubeContext", None, "name the context explicitly"
    ),
    # A namespace budget the stack cannot fit in at its worst moment: every pod at its limits.
    "quota-cpu-autoscaling": Bad(
        "staging", ("wal-service:quotaCpu=2",), "quotaCpu", "'2'", "maxReplicas 4 + rollout surge 1) x cpuLimit 500m"
    ),
    "quota-cpu-fixed-replicas": Bad(
        "dev",
        ("wal-service:replicas=5", "wal-service:quotaCpu=2"),
        "quotaCpu",
        "'2'",
        "6 service pods (replicas 5 + rollout surge 1) x cpuLimit 500m + database pod 1 (the larger of its containers' "
        "sum and its init container); set quotaCpu to at least 4, unset it",
    ),
    "quota-memory-external-database": Bad(
        "prod", ("wal-service:quotaMemory=4Gi",), "quotaMemory", "'4Gi'", "limits.memory 4400Mi = 11 service pods"
    ),
    "quota-memory-counts-the-database": Bad(
        "dev", ("wal-service:quotaMemory=1Gi",), "quotaMemory", "'1Gi'", "+ database pod 512Mi"
    ),
    "gc-after-up-without-local-registry": Bad(
        "prod", ("wal-service:registryGcAfterUp=true",), "registryGcAfterUp", None, "local registry only"
    ),
    "python-image-latest": Bad(
        "dev", ("wal-service:pythonImage=python:latest",), "pythonImage", "'python:latest'", "moves under you"
    ),
    "pip-index-plain-http": Bad(
        "dev",
        ("wal-service:pipIndexUrl=http://pypi.example.com/simple",),
        "pipIndexUrl",
        "'http://pypi.example.com/simple'",
        "must be an https:// URL",
    ),
    "pip-ca-file-missing": Bad(
        "staging",
        ("wal-service:pipCaFile=/nonexistent/corp-ca.pem",),
        "pipCaFile",
        "'/nonexistent/corp-ca.pem'",
        "must name a readable PEM file of CA certificates: [Errno 2]",
    ),
    # Relative to the project directory, where Pulumi.yaml is: found, but no certificate in it.
    "pip-ca-file-not-pem": Bad(
        "dev", ("wal-service:pipCaFile=Pulumi.yaml",), "pipCaFile", "'Pulumi.yaml'", "holds no -----BEGIN CERTIFICATE"
    ),
    "monitoring-mode": Bad(
        "dev", ("wal-service:monitoring=prometheus",), "monitoring", "'prometheus'", "servicemonitor"
    ),
    "service-monitor-label": Bad(
        "prod", ('wal-service:serviceMonitorLabels=["release"]',), "serviceMonitorLabels", "release", "key=value"
    ),
    # The in-cluster PostgreSQL serves no TLS: each of the three modes that insist on it could never connect.
    **{
        f"in-cluster-{mode}": Bad(
            "dev", (f"wal-service:databaseSslMode={mode}",), "databaseSslMode", f"'{mode}'", "disable, allow or prefer"
        )
        for mode in ("require", "verify-ca", "verify-full")
    },
}

PLAINTEXT_PASSWORD = ("prod", ("wal-service:databasePassword=hunter2-plain",), ())


@pytest.fixture(scope="module", autouse=True)
def _prefetch(mockruns: MockRuns) -> None:
    # One parallel batch instead of a second or two per case.
    scenarios = [mockruns.scenario(case.stack, case.sets) for case in CASES.values()]
    mockruns.prefetch([*scenarios, mockruns.scenario(*PLAINTEXT_PASSWORD)])


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_value_is_rejected_before_any_resource(mockruns: MockRuns, case: Bad) -> None:
    result = mockruns.get(case.stack, case.sets)
    where = f"stack {case.stack} with {' '.join(case.sets)}"
    assert result.returncode == 2, f"{where}: exit {result.returncode}, expected 2 (error: {result.error})"
    assert result.error, f"{where}: accepted, the record has no error"
    assert "\n" not in result.error and "Traceback" not in result.stderr, f"{where}: not one line:\n{result.stderr}"
    assert f"wal-service:{case.key}" in result.error, f"{where}: message does not name the key: {result.error}"
    if case.value is not None:
        assert case.value in result.error, f"{where}: message does not quote {case.value}: {result.error}"
    assert case.allowed in result.error, f"{where}: message does not say what is allowed: {result.error}"
    assert result.registrations == [], (
        f"{where}: {len(result.registrations)} resources registered before the error: "
        f"{[r['urn'] for r in result.registrations]}"
    )
    assert f"error: {result.error}" in result.stderr.splitlines(), f"{where}: stderr lacks the error: {result.stderr}"


def test_plaintext_database_password_is_refused(mockruns: MockRuns) -> None:
    # Replaces the `secure:` value every prod run starts with by a plain one.
    stack, sets, unsets = PLAINTEXT_PASSWORD
    result = mockruns.get(stack, sets, unsets)
    assert result.returncode == 2, f"stack {stack}: a plain-text databasePassword was accepted"
    assert result.error and "\n" not in result.error
    assert "pulumi config set --secret wal-service:databasePassword" in result.error, result.error
    assert "hunter2-plain" not in result.error + result.stderr, "the error echoes the plain-text password"
    assert result.registrations == [], f"stack {stack}: resources registered before the error"


def test_render_reports_bad_config_in_one_line(cli: Callable[..., CompletedProcess[str]]) -> None:
    proc = cli("tools.render", "dev", ["wal-service:replicas=abc"])
    assert proc.returncode == 2, f"tools.render dev exited {proc.returncode}"
    assert proc.stdout == "", f"tools.render printed manifests for a bad config:\n{proc.stdout}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"tools.render stderr is not one line:\n{proc.stderr}"
    assert lines[0].startswith("error: wal-service:replicas = 'abc' is invalid"), lines[0]
    assert "Traceback" not in proc.stderr


def test_keys_of_a_disabled_default_provider_are_refused(mockruns: MockRuns) -> None:
    """`kubernetes:context` looks like it picks a cluster; with the default provider disabled it picks nothing."""
    result = mockruns.get("dev", ("kubernetes:context=kind-other",))
    assert result.returncode == 2 and result.error, "kubernetes:context was accepted"
    assert "\n" not in result.error
    assert result.error.startswith("kubernetes:context has no effect: the default kubernetes provider is disabled")
    assert "pulumi config rm kubernetes:context" in result.error, result.error
    assert result.registrations == [], "resources registered before the error"


def test_docker_host_is_refused_with_where_the_daemon_comes_from(mockruns: MockRuns) -> None:
    """`docker:host` would configure only the default docker provider, which is disabled: the program's provider
    follows the docker CLI, like kind does."""
    result = mockruns.get("dev", ("docker:host=tcp://127.0.0.1:2375",))
    assert result.returncode == 2 and result.error, "docker:host was accepted"
    assert result.error.startswith("docker:host has no effect: the default docker provider is disabled"), result.error
    assert "DOCKER_HOST" in result.error and "docker context use" in result.error, result.error
    assert result.registrations == [], "resources registered before the error"


def test_a_shared_stack_refuses_another_backend() -> None:
    """prod names its backend; a run against the machine-local one would be a second, empty prod."""
    proc = run_mockrun("prod", "--backend", "file://~", "--set", "wal-service:databasePassword={secure: x}")
    assert proc.returncode == 2, f"prod ran against file://~ (exit {proc.returncode})"
    error = [line for line in proc.stderr.splitlines() if line.startswith("error: ")][-1]
    assert error.startswith("error: wal-service:stateBackend: stack prod keeps its state in https://api.pulumi.com"), (
        error
    )
    assert "export PULUMI_BACKEND_URL=https://api.pulumi.com" in error, error
    assert '"resources": []' in proc.stdout, "resources registered before the error"
    ok = run_mockrun(
        "prod",
        "--backend",
        "https://api.pulumi.com/",
        "--set",
        "wal-service:databasePassword={secure: x}",
        "--set",
        f"wal-service:apiKeys={{secret: '{PROD_API_KEYS}'}}",
        "--preview",
    )
    assert ok.returncode == 0, ok.stderr


def test_a_preview_of_a_stack_not_yet_promoted_shows_its_plan() -> None:
    """A pull request previews prod as committed (the all-zero imageRef): the plan shows, only `up` refuses it."""
    proc = run_mockrun(
        "prod",
        "--preview",
        "--set",
        "wal-service:databasePassword={secure: x}",
        "--set",
        f"wal-service:apiKeys={{secret: '{PROD_API_KEYS}'}}",
    )
    assert proc.returncode == 0, proc.stderr
    images = {
        container["image"]
        for resource in json.loads(proc.stdout)["resources"]
        if resource["type"] == "kubernetes:apps/v1:Deployment"
        for container in resource["inputs"]["spec"]["template"]["spec"]["containers"]
    }
    assert images == {f"registry.example.com/wal-service@sha256:{'0' * 64}"}, images


def run_mockrun(stack: str, *args: str) -> subprocess.CompletedProcess[str]:
    root = Path(__file__).resolve().parents[2]
    return subprocess.run(
        [sys.executable, "-m", "tools.mockrun", "--stack", stack, *args],
        cwd=root, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip


def test_limits_equal_to_requests_are_accepted() -> None:
    """Guaranteed QoS (limits == requests) is a valid choice; only limits below requests are refused."""
    from components.settings import stack_settings

    settings = stack_settings("dev", {"cpuLimit": "100m", "cpuRequest": "100m", "memoryLimit": "256Mi"})
    assert (settings.cpu_limit, settings.memory_limit) == (settings.cpu_request, settings.memory_request)
