"""Stack checks: what one stack's values cannot show stops the program before any resource exists.

Stacks run side by side on one Docker host (the program reads the other stack files, not only the tests),
a disabled default provider's keys configure nothing, a shared stack's state lives in one backend, and a
stack file's placeholder imageRef names no image.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from components.stack_checks import backend_problem, effective_backend, inert_keys, stack_settings
from tests.config_cases import Bad, assert_refused_before_any_resource, prefetch
from tests.conftest import PROD_API_KEYS

if TYPE_CHECKING:
    from conftest import MockRuns


CASES = {
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
    # prod's file as committed: `pulumi up` before anything is promoted.
    "placeholder-digest": Bad(
        "prod",
        (f"wal-service:imageRef=registry.example.com/wal-service@sha256:{'0' * 64}",),
        "imageRef",
        None,
        "all-zero placeholder digest, which no registry serves; run: pulumi config set wal-service:imageRef "
        '"registry.example.com/wal-service@$(pulumi stack output imageDigest -s staging)" -s prod',
    ),
}
PROVIDER_KEYS = (("kubernetes:context=kind-other",), ("docker:host=tcp://127.0.0.1:2375",))


@pytest.fixture(scope="module", autouse=True)
def _prefetch(mockruns: MockRuns) -> None:
    prefetch(mockruns, CASES)
    mockruns.prefetch(mockruns.scenario("dev", sets) for sets in PROVIDER_KEYS)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_value_is_rejected_before_any_resource(mockruns: MockRuns, case: Bad) -> None:
    assert_refused_before_any_resource(mockruns, case)


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


def test_keys_of_enabled_providers_and_of_the_project_are_left_alone() -> None:
    disabled = {"pulumi:disable-default-providers": '["kubernetes"]'}
    assert inert_keys({**disabled, "wal-service:replicas": "1", "docker:host": "unix:///x"}) == []
    assert [problem.split(" ")[0] for problem in inert_keys({**disabled, "kubernetes:context": "x"})] == [
        "kubernetes:context"
    ]


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


def test_the_backend_check_ignores_a_trailing_slash_and_a_stack_that_names_none() -> None:
    prod = stack_settings("prod")
    assert backend_problem(prod, "https://api.pulumi.com/") is None
    assert backend_problem(stack_settings("dev"), effective_backend({"PULUMI_BACKEND_URL": "s3://elsewhere"})) is None


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
