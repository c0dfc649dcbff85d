"""Field validators: a value its field's type refuses stops the program before any resource exists."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from components.stack_checks import stack_settings
from components.validators import (
    BASE_CONFIG_KEYS,
    SYSTEM_NAMESPACES,
    amount,
    feature_flag_entries,
    own_namespace,
    registry_server,
)
from tests.components.workload_objects import config_data, container
from tests.config_cases import Bad, assert_refused_before_any_resource, prefetch
from tests.conftest import STACKS

if TYPE_CHECKING:
    from conftest import MockRuns


CASES = {
    "bad-quantity": Bad("dev", ("wal-service:memoryRequest=512MB",), "memoryRequest", "'512MB'", "256Mi"),
    "bad-ephemeral-storage-quantity": Bad(
        "prod", ("wal-service:ephemeralStorageRequest=1GB",), "ephemeralStorageRequest", "'1GB'", "256Mi"
    ),
    "host-not-dns": Bad("dev", ("wal-service:host=not_a_host",), "host", "'not_a_host'", "DNS name"),
    "namespace-not-dns1123": Bad("dev", ("wal-service:namespace=Bad_NS",), "namespace", "'Bad_NS'", "DNS-1123 label"),
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
    "state-backend-not-a-url": Bad(
        "dev", ("wal-service:stateBackend=team-bucket",), "stateBackend", "'team-bucket'", "https://api.pulumi.com"
    ),
    "image-latest": Bad(
        "prod",
        ("wal-service:imageRef=registry.example.com/wal-service:latest",),
        "imageRef",
        "'registry.example.com/wal-service:latest'",
        "digest",
    ),
    "service-monitor-label": Bad(
        "prod", ('wal-service:serviceMonitorLabels=["release"]',), "serviceMonitorLabels", "release", "key=value"
    ),
}
AUTH_FLAGS = ("AUTH=disabled", "API_KEYS_FILE=/tmp/keys")


@pytest.fixture(scope="module", autouse=True)
def _prefetch(mockruns: MockRuns) -> None:
    prefetch(mockruns, CASES)
    mockruns.prefetch(
        mockruns.scenario(stack, (f'wal-service:featureFlags=["{flag}"]',))
        for stack in ("dev", "prod")
        for flag in AUTH_FLAGS
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_value_is_rejected_before_any_resource(mockruns: MockRuns, case: Bad) -> None:
    assert_refused_before_any_resource(mockruns, case)


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("flag", AUTH_FLAGS)
def test_no_stack_turns_authentication_off_or_moves_the_keys(mockruns: MockRuns, stack: str, flag: str) -> None:
    result = mockruns.get(stack, (f'wal-service:featureFlags=["{flag}"]',))
    assert result.returncode == 2 and result.error, f"stack {stack} accepted featureFlags {flag}"
    assert result.error.startswith("wal-service:featureFlags"), result.error
    expected = "every stack authenticates its clients" if flag.startswith("AUTH") else "program-owned key"
    assert expected in result.error, result.error
    assert result.registrations == []


def test_the_keys_a_feature_flag_may_not_set_are_the_ones_the_program_sets(mockruns: MockRuns) -> None:
    """BASE_CONFIG_KEYS repeats the names the workload puts in the service's environment: a name the program
    starts to set and the list lacks could be overridden by a stack's featureFlags without a word."""
    program_sets: set[str] = set()
    for stack in STACKS:
        run = mockruns.get(stack)
        flags = {entry.partition("=")[0] for entry in stack_settings(stack).feature_flags}
        env = {variable["name"] for variable in container(run).get("env", [])}
        program_sets |= set(config_data(run)) - flags | env
    assert program_sets <= BASE_CONFIG_KEYS, f"not refused as feature flags: {sorted(program_sets - BASE_CONFIG_KEYS)}"
    # AUTH is never set (the service requires keys by default); it is refused as a flag with its own reason.
    assert BASE_CONFIG_KEYS - program_sets == {"AUTH"}, f"set by no stack: {sorted(BASE_CONFIG_KEYS - program_sets)}"


def test_a_feature_flag_of_the_services_own_may_be_set() -> None:
    """DATABASE_POOL_SIZE is the service's but not the program's: a stack may tune it."""
    assert feature_flag_entries(["DATABASE_POOL_SIZE=20", "NEW_UI=on"]) == ["DATABASE_POOL_SIZE=20", "NEW_UI=on"]


@pytest.mark.parametrize("namespace", sorted(SYSTEM_NAMESPACES))
def test_system_namespaces_are_refused_and_the_empty_default_is_not(namespace: str) -> None:
    with pytest.raises(ValueError, match="system namespace"):
        own_namespace(namespace)
    assert own_namespace("") == ""


@pytest.mark.parametrize("server", ["registry.example.com", "localhost:5000", ""])
def test_registry_servers_accepted(server: str) -> None:
    assert registry_server(server) == server


@pytest.mark.parametrize("server", ["Registry.Example.com", "localhost:port", "bad_host"])
def test_registry_servers_refused(server: str) -> None:
    with pytest.raises(ValueError, match="host\\[:port\\]"):
        registry_server(server)


def test_amount_reads_kubernetes_quantities() -> None:
    assert amount("250m") * 4 == amount("1") and amount("1Gi") == 1024 * amount("1Mi")
    with pytest.raises(ValueError):
        amount("512MB")
