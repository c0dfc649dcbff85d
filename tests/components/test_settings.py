"""Settings: a value of the wrong type or range, an unknown key, or values that conflict stop the program
before any resource exists, in one line naming the key.

The field validators' own refusals are tested in test_validators.py, the checks against the other stacks
and the backend in test_stack_checks.py, credentials in test_credentials.py.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pulumi
import pytest

from components.settings import SECRET_KEYS, Settings, parse_settings
from components.stack_checks import stack_settings
from components.stack_config import load_stack_config, project_values
from tests.config_cases import Bad, assert_refused_before_any_resource, prefetch

if TYPE_CHECKING:
    from collections.abc import Callable
    from subprocess import CompletedProcess

    from conftest import MockRuns

ROOT = Path(__file__).resolve().parents[2]

CASES = {
    "wrong-type": Bad("dev", ("wal-service:replicas=abc",), "replicas", "'abc'", "valid integer"),
    "negative-replicas": Bad("dev", ("wal-service:replicas=-1",), "replicas", "'-1'", "greater than or equal to 1"),
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
    "min-above-max": Bad(
        "dev",
        ("wal-service:autoscaling=true", "wal-service:minReplicas=5", "wal-service:maxReplicas=3"),
        "minReplicas",
        "5",
        "min <= max",
    ),
    "namespace-of-the-gateway": Bad(
        "dev", ("wal-service:namespace=nginx-gateway",), "namespace", "'nginx-gateway'", "is also gatewayNamespace"
    ),
    "namespace-of-the-ingress-controller": Bad(
        "prod", ("wal-service:namespace=ingress-nginx",), "namespace", "'ingress-nginx'", "ingressControllerNamespace"
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
    # An external database needs both where it is and the range the egress policy opens to it.
    "external-database-without-host": Bad(
        "dev",
        ("wal-service:databaseMode=external", "wal-service:databaseCidr=10.0.0.0/24"),
        "databaseHost",
        None,
        "is empty but databaseMode is external; it is required there",
    ),
    "external-database-without-cidr": Bad(
        "dev",
        ("wal-service:databaseMode=external", "wal-service:databaseHost=db.example.com"),
        "databaseCidr",
        None,
        "is empty but databaseMode is external; it is required there",
    ),
    # The default-deny policies of the service's namespace would cut off the data plane that routes to it.
    "namespace-is-the-gateways": Bad(
        "dev", ("wal-service:namespace=nginx-gateway",), "namespace", "'nginx-gateway'", "a namespace of its own"
    ),
    "image-latest": Bad(
        "dev",
        ("wal-service:imageRef=registry.example.com/wal-service:latest",),
        "imageRef",
        "'registry.example.com/wal-service:latest'",
        "':latest' moves under you; deploy an immutable tag or, better, the digest",
    ),
    # The in-cluster PostgreSQL serves no TLS: each of the three modes that insist on it could never connect.
    **{
        f"in-cluster-{mode}": Bad(
            "dev", (f"wal-service:databaseSslMode={mode}",), "databaseSslMode", f"'{mode}'", "disable, allow or prefer"
        )
        for mode in ("require", "verify-ca", "verify-full")
    },
}


@pytest.fixture(scope="module", autouse=True)
def _prefetch(mockruns: MockRuns) -> None:
    prefetch(mockruns, CASES)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_value_is_rejected_before_any_resource(mockruns: MockRuns, case: Bad) -> None:
    assert_refused_before_any_resource(mockruns, case)


def test_render_reports_bad_config_in_one_line(cli: Callable[..., CompletedProcess[str]]) -> None:
    proc = cli("tools.render", "dev", ["wal-service:replicas=abc"])
    assert proc.returncode == 2, f"tools.render dev exited {proc.returncode}"
    assert proc.stdout == "", f"tools.render printed manifests for a bad config:\n{proc.stdout}"
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"tools.render stderr is not one line:\n{proc.stderr}"
    assert lines[0].startswith("error: wal-service:replicas = 'abc' is invalid"), lines[0]
    assert "Traceback" not in proc.stderr


def test_limits_equal_to_requests_are_accepted() -> None:
    """Guaranteed QoS (limits == requests) is a valid choice; only limits below requests are refused."""
    settings = stack_settings("dev", {"cpuLimit": "100m", "cpuRequest": "100m", "memoryLimit": "256Mi"})
    assert (settings.cpu_limit, settings.memory_limit) == (settings.cpu_request, settings.memory_request)


def dev_values(**overrides: str) -> dict[str, str]:
    config, _ = load_stack_config("dev", overrides)
    return project_values(config)


def test_conflicts_are_key_and_message_pairs() -> None:
    valid = stack_settings("dev")
    assert list(valid.conflicts()) == []
    # model_copy skips validation: a Settings that holds two conflicts at once.
    both = valid.model_copy(update={"cpu_limit": "50m", "memory_limit": "128Mi"})
    assert [key for key, _ in both.conflicts()] == ["cpuLimit", "memoryLimit"]
    key, message = next(both.conflicts())
    assert not message.startswith(("@", key)), f"the message repeats or encodes its key: {message}"


def test_the_first_conflict_is_the_one_reported() -> None:
    with pytest.raises(pulumi.RunError) as refused:
        parse_settings(dev_values(cpuLimit="50m", memoryLimit="128Mi"), "dev")
    assert str(refused.value) == "wal-service:cpuLimit '50m' is below cpuRequest '100m'; limits must be >= requests"


def test_every_bad_value_is_reported_at_once_sorted() -> None:
    with pytest.raises(pulumi.RunError) as refused:
        parse_settings({**dev_values(replicas="abc"), "replicaz": "3", "host": "not_a_host"}, "dev")
    named = re.findall(r"(?:^|; )(wal-service:\w+)", str(refused.value))
    assert named == ["wal-service:host", "wal-service:replicas", "wal-service:replicaz"], str(refused.value)


def test_a_key_without_a_default_must_be_set() -> None:
    values = dev_values()
    del values["appEnv"]
    with pytest.raises(pulumi.RunError) as refused:
        parse_settings(values, "dev")
    assert str(refused.value) == (
        "wal-service:appEnv is not set; set it in Pulumi.<stack>.yaml (it has no default on purpose)"
    )


# camelCase words in the settings modules' strings that are not config keys.
NOT_KEYS = {"imageDigest", "pathType"}
CAMEL_CASE = re.compile(r"(?<![A-Za-z0-9_./-])[a-z]+(?:[A-Z][a-z0-9]*)+(?![A-Za-z0-9_])")
SETTINGS_MODULES = ("settings.py", "validators.py", "stack_checks.py", "credentials.py")


@pytest.mark.parametrize("module", SETTINGS_MODULES)
def test_every_key_the_checks_name_is_a_config_key(module: str) -> None:
    """Keys are written as strings wherever a check names one (in a (key, message) pair, a host claim or the
    prose of a message): each must be a key Settings reads, or a typo sends users after a key that does not
    exist."""
    keys = {field.alias for field in Settings.model_fields.values() if field.alias} | SECRET_KEYS
    path = ROOT / "components" / module
    strings = [
        node.value
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]
    named = {word for text in strings for word in CAMEL_CASE.findall(text)}
    assert named, f"components/{module}: no key found, the pattern is broken"
    unknown = named - keys - NOT_KEYS
    assert not unknown, f"components/{module} names {sorted(unknown)}, which are not config keys"


@pytest.mark.parametrize(
    ("overrides", "line"),
    [
        (
            {"databaseMode": "external", "databaseCidr": "10.0.0.0/24"},
            "wal-service:databaseHost is empty but databaseMode is external; it is required there",
        ),
        (
            {"databaseMode": "external", "databaseHost": "db.example.com"},
            "wal-service:databaseCidr is empty but databaseMode is external; it is required there",
        ),
        (
            {"namespace": "nginx-gateway"},
            "wal-service:namespace 'nginx-gateway' is also gatewayNamespace; the stack's default-deny policies would "
            "cut off the pods that route traffic to the service. Give the service a namespace of its own",
        ),
        (
            {"imageRef": "registry.example.com/wal-service:latest"},
            "wal-service:imageRef = 'registry.example.com/wal-service:latest' is invalid: ':latest' moves under you; "
            "deploy an immutable tag or, better, the digest",
        ),
    ],
)
def test_a_refusal_is_the_one_line_pulumi_prints(overrides: dict[str, str], line: str) -> None:
    """What `pulumi up` shows as its error, whole: the key, the value, why, what to do instead."""
    with pytest.raises(pulumi.RunError) as refused:
        parse_settings(dev_values(**overrides), "dev")
    assert str(refused.value) == line
