"""Database component: both modes, secrets kept secret, policies that really match, volume lifecycle."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest

from components.stack_config import SECRET_PLACEHOLDER
from tools.mockrun import SECRET_SIG, SIG_KEY, _unwrap
from tools.render import run_stack

PROD_SECRETS = (
    "wal-service:databasePassword={secure: v1:mock}",
    "wal-service:registryPassword={secure: v1:mock}",
)
PROD_PASSWORD = SECRET_PLACEHOLDER.format(key="wal-service:databasePassword")
DB_ENV = {"DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "DATABASE_USER", "DATABASE_SSLMODE"}


@functools.cache
def record(stack: str, sets: tuple[str, ...] = ()) -> dict[str, Any]:
    result = run_stack(stack, sets=list(sets))
    return result


def ok(stack: str, sets: tuple[str, ...] = ()) -> dict[str, Any]:
    result = record(stack, sets)
    assert result["error"] is None, f"{stack} {sets}: {result['error']}"
    return result


def resources(rec: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in rec["resources"] if r["type"] == type_]


def one(rec: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    """The registered Kubernetes object `kind`/`name`, secrets revealed (wire values unwrapped)."""
    found = [
        r
        for r in rec["resources"]
        if r["type"].startswith("kubernetes:")
        and r["inputs"].get("kind") == kind
        and r["inputs"].get("metadata", {}).get("name") == name
    ]
    assert len(found) == 1, f"expected one {kind}/{name}, found {[r['urn'] for r in found]}"
    obj: dict[str, Any] = _unwrap(found[0]["wire_inputs"], mask=False)
    return obj


def registration(rec: dict[str, Any], kind: str, name: str) -> dict[str, Any]:
    for r in rec["resources"]:
        if r["inputs"].get("kind") == kind and r["inputs"].get("metadata", {}).get("name") == name:
            found: dict[str, Any] = r
            return found
    raise AssertionError(f"no {kind}/{name} registered")


def kinds(rec: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (r["inputs"]["kind"], r["inputs"]["metadata"]["name"])
        for r in rec["resources"]
        if r["type"].startswith("kubernetes:") and "kind" in r["inputs"] and "metadata" in r["inputs"]
    }


def matches(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def mock_random_password(rec: dict[str, Any]) -> str:
    """The value the mock RandomPassword returns (tools.mockrun._fake_outputs)."""
    (password,) = resources(rec, "random:index/randomPassword:RandomPassword")
    return "mock-random-" + hashlib.sha256(password["name"].encode()).hexdigest()[:24]


def split_secrets(value: Any, inside: bool = False) -> Iterator[tuple[bool, str]]:
    """Every string in a wire value, flagged with whether it sits inside a secret wrapper."""
    if isinstance(value, dict):
        secret = value.get(SIG_KEY) == SECRET_SIG
        for key, item in value.items():
            yield inside, str(key)
            yield from split_secrets(item, inside or secret)
    elif isinstance(value, list):
        for item in value:
            yield from split_secrets(item, inside)
    else:
        yield inside, str(value)


# -- modes ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_in_cluster_stacks_run_postgres_beside_the_service(stack: str) -> None:
    rec = ok(stack)
    objects = kinds(rec)
    for expected in [
        ("StatefulSet", "postgres"),
        ("Service", "postgres"),
        ("Secret", "wal-service-database"),
        ("NetworkPolicy", "allow-postgres-clients"),
    ]:
        assert expected in objects, f"{stack}: {expected} missing"
    assert len(resources(rec, "random:index/randomPassword:RandomPassword")) == 1

    config = one(rec, "ConfigMap", "wal-service-config")["data"]
    assert {key: config[key] for key in DB_ENV} == {
        "DATABASE_HOST": f"postgres.wal-service-{stack}.svc",
        "DATABASE_PORT": "5432",
        "DATABASE_NAME": "wal",
        "DATABASE_USER": "wal",
        "DATABASE_SSLMODE": "prefer",
    }
    assert "DATABASE_PASSWORD" not in config

    service = one(rec, "Service", "postgres")
    assert service["spec"]["clusterIP"] == "None", "the StatefulSet's governing Service must be headless"
    statefulset = one(rec, "StatefulSet", "postgres")
    assert statefulset["spec"]["serviceName"] == "postgres"
    assert statefulset["spec"]["replicas"] == 1
    template = statefulset["spec"]["template"]
    assert matches(statefulset["spec"]["selector"]["matchLabels"], template["metadata"]["labels"])
    assert matches(service["spec"]["selector"], template["metadata"]["labels"])
    (container,) = template["spec"]["containers"]
    assert container["image"] == "postgres:17.11-bookworm"
    env = {e["name"]: e for e in container["env"]}
    assert env["POSTGRES_USER"]["value"] == "wal" and env["POSTGRES_DB"]["value"] == "wal"
    assert env["PGDATA"]["value"].startswith("/var/lib/postgresql/data/"), "PGDATA must be a subdirectory"
    assert "POSTGRES_PASSWORD" not in env, "the password must arrive as a mounted file, not an env var"
    assert env["POSTGRES_PASSWORD_FILE"]["value"] == "/run/secrets/postgres/password"
    volumes = {v["name"]: v for v in template["spec"]["volumes"]}
    assert volumes["password"]["secret"]["secretName"] == "wal-service-database"
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["password"] == {"name": "password", "mountPath": "/run/secrets/postgres", "readOnly": True}
    (claim,) = statefulset["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "app.kubernetes.io/version" not in claim["metadata"]["labels"], "claim templates are immutable"


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_service_reads_the_password_from_the_database_secret(stack: str) -> None:
    rec = ok(stack, PROD_SECRETS if stack == "prod" else ())
    secret = one(rec, "Secret", "wal-service-database")
    assert secret["type"] == "Opaque"
    assert set(secret["stringData"]) == {"password"}
    (container,) = one(rec, "Deployment", "wal-service")["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container["env"]}
    assert env["DATABASE_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": "wal-service-database", "key": "password"}
    assert "value" not in env["DATABASE_PASSWORD"]


def test_prod_without_password_names_the_command_to_fix_it() -> None:
    rec = record("prod")
    assert rec["error"] is not None
    assert "pulumi config set --secret wal-service:databasePassword <password> -s prod" in rec["error"]


def test_external_mode_creates_only_the_password_secret() -> None:
    rec = ok("prod", PROD_SECRETS)
    db = [r for r in rec["resources"] if "-database" in r["name"]]
    assert sorted(r["type"] for r in db) == ["kubernetes:core/v1:Secret", "wal:platform:Database"], [
        r["urn"] for r in db
    ]
    assert not resources(rec, "random:index/randomPassword:RandomPassword")
    assert not {k for k in kinds(rec) if k[0] in ("StatefulSet", "PersistentVolumeClaim")}
    config = one(rec, "ConfigMap", "wal-service-config")["data"]
    assert {key: config[key] for key in DB_ENV} == {
        "DATABASE_HOST": "wal-db.example.com",
        "DATABASE_PORT": "5432",
        "DATABASE_NAME": "wal",
        "DATABASE_USER": "wal",
        "DATABASE_SSLMODE": "verify-full",
    }
    secret = one(rec, "Secret", "wal-service-database")
    assert secret["stringData"]["password"] == PROD_PASSWORD


def test_external_mode_on_a_dev_stack_uses_the_configured_server() -> None:
    sets = (
        "wal-service:databaseMode=external",
        "wal-service:databaseHost=db.internal.example",
        "wal-service:databasePort=6432",
        "wal-service:databaseCidr=10.9.8.7/32",
        "wal-service:databasePassword={secure: v1:mock}",
    )
    rec = ok("dev", sets)
    assert ("StatefulSet", "postgres") not in kinds(rec)
    config = one(rec, "ConfigMap", "wal-service-config")["data"]
    assert config["DATABASE_HOST"] == "db.internal.example" and config["DATABASE_PORT"] == "6432"
    egress = one(rec, "NetworkPolicy", "allow-app-egress")["spec"]["egress"]
    assert {"to": [{"ipBlock": {"cidr": "10.9.8.7/32"}}], "ports": [{"port": 6432, "protocol": "TCP"}]} in egress


def test_external_password_in_plain_text_is_refused() -> None:
    sets = ("wal-service:databasePassword=hunter2", "wal-service:registryPassword={secure: v1:mock}")
    rec = record("prod", sets)
    assert rec["error"] is not None and "stored in plain text" in rec["error"]


def test_in_cluster_refuses_tls_only_sslmode() -> None:
    rec = record("dev", ("wal-service:databaseSslMode=verify-full",))
    assert rec["error"] is not None and "databaseSslMode" in rec["error"]


# -- the password stays secret --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("stack", "sets"),
    [("dev", ()), ("staging", ()), ("prod", PROD_SECRETS)],
)
def test_password_never_appears_outside_secret_wrappers(stack: str, sets: tuple[str, ...]) -> None:
    rec = ok(stack, sets)
    password = PROD_PASSWORD if stack == "prod" else mock_random_password(rec)
    seen_inside: list[str] = []
    for r in rec["resources"]:
        for inside, text in split_secrets(r["wire_inputs"]):
            if password in text:
                assert inside, f"{r['urn']}: password in clear in wire_inputs"
                seen_inside.append(r["urn"])
        assert password not in json.dumps(r["inputs"]), f"{r['urn']}: password in the masked inputs"
    # The search is only meaningful if it finds the value where it belongs.
    assert any(urn.endswith("::wal-" + stack + "-database-secret") for urn in seen_inside), seen_inside
    assert password not in json.dumps(rec["outputs"]), "password in a stack output"


# -- network policies ---------------------------------------------------------------------------------


def test_policies_match_the_pods_they_mean() -> None:
    rec = ok("dev")
    postgres = one(rec, "StatefulSet", "postgres")["spec"]["template"]["metadata"]["labels"]
    app = one(rec, "Deployment", "wal-service")["spec"]["template"]["metadata"]["labels"]
    app_service = one(rec, "Service", "wal-service")["spec"]["selector"]

    ingress = one(rec, "NetworkPolicy", "allow-postgres-clients")["spec"]
    assert ingress["policyTypes"] == ["Ingress"]
    assert matches(ingress["podSelector"]["matchLabels"], postgres)
    assert not matches(ingress["podSelector"]["matchLabels"], app)
    (rule,) = ingress["ingress"]
    (peer,) = rule["from"]
    assert set(peer) == {"podSelector"}, "clients are pods of this namespace only"
    assert matches(peer["podSelector"]["matchLabels"], app)
    assert not matches(peer["podSelector"]["matchLabels"], postgres)
    assert rule["ports"] == [{"port": 5432, "protocol": "TCP"}]

    egress = one(rec, "NetworkPolicy", "allow-app-egress")["spec"]
    assert matches(egress["podSelector"]["matchLabels"], app)
    (to_db,) = [e for e in egress["egress"] if e["ports"] == [{"port": 5432, "protocol": "TCP"}]]
    (peer,) = to_db["to"]
    assert set(peer) == {"podSelector"}
    assert matches(peer["podSelector"]["matchLabels"], postgres)
    assert not matches(peer["podSelector"]["matchLabels"], app)

    # The service's own Service, ingress and egress rules must not pick up the database pods.
    assert not matches(app_service, postgres)
    assert not matches(
        one(rec, "NetworkPolicy", "allow-ingress-controller")["spec"]["podSelector"]["matchLabels"], postgres
    )


def test_prod_egress_allows_only_the_database_cidr() -> None:
    rec = ok("prod", PROD_SECRETS)
    egress = one(rec, "NetworkPolicy", "allow-app-egress")["spec"]["egress"]
    assert egress == [{"to": [{"ipBlock": {"cidr": "10.20.0.0/24"}}], "ports": [{"port": 5432, "protocol": "TCP"}]}]


# -- volume lifecycle ---------------------------------------------------------------------------------


def test_destroy_deletes_the_volume_by_default() -> None:
    rec = ok("dev")
    statefulset = one(rec, "StatefulSet", "postgres")
    policy = statefulset["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert policy == {"whenDeleted": "Delete", "whenScaled": "Retain"}
    assert not [r["urn"] for r in rec["resources"] if r["options"]["retainOnDelete"]]
    options = registration(rec, "StatefulSet", "postgres")["options"]
    assert "spec.volumeClaimTemplates" in options["ignoreChanges"], "a template change would replace and wipe"


def test_retain_on_delete_keeps_the_claim_and_its_namespace() -> None:
    rec = ok("dev", ("wal-service:databaseRetainOnDelete=true",))
    policy = one(rec, "StatefulSet", "postgres")["spec"]["persistentVolumeClaimRetentionPolicy"]
    assert policy == {"whenDeleted": "Retain", "whenScaled": "Retain"}
    retained = {r["inputs"].get("kind") for r in rec["resources"] if r["options"]["retainOnDelete"]}
    assert retained == {"Namespace"}, "namespace deletion would delete the claim"
    (sync,) = one(rec, "StatefulSet", "postgres")["spec"]["template"]["spec"]["initContainers"]
    assert "ALTER ROLE" in sync["command"][-1], "retained data needs the current password applied"


def test_prod_retains_nothing() -> None:
    rec = ok("prod", (*PROD_SECRETS, "wal-service:databaseRetainOnDelete=true"))
    assert not [r["urn"] for r in rec["resources"] if r["options"]["retainOnDelete"]]


# -- pod security -----------------------------------------------------------------------------------


def test_postgres_pod_meets_restricted_pod_security() -> None:
    spec = one(ok("dev"), "StatefulSet", "postgres")["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False
    assert spec["securityContext"] == {
        "runAsNonRoot": True,
        "runAsUser": 999,
        "runAsGroup": 999,
        "fsGroup": 999,
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert set(volumes) == {"password", "run", "tmp"}, "only the restricted profile's volume types"
    assert all("emptyDir" in volumes[n] for n in ("run", "tmp")) and "secret" in volumes["password"]
    for container in spec["containers"] + spec["initContainers"]:
        name = container["name"]
        assert container["securityContext"] == {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "runAsUser": 999,
            "runAsGroup": 999,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        }, name
        limits, requests = container["resources"]["limits"], container["resources"]["requests"]
        assert set(limits) == set(requests) == {"cpu", "memory"}, name
    (postgres,) = spec["containers"]
    mounts = {m["mountPath"]: m["name"] for m in postgres["volumeMounts"]}
    assert mounts == {
        "/var/lib/postgresql/data": "data",
        "/run/secrets/postgres": "password",
        "/var/run/postgresql": "run",
        "/tmp": "tmp",
    }
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        command = postgres[probe]["exec"]["command"]
        assert command[0] == "pg_isready" and "127.0.0.1" in command, probe


def test_rendered_dev_objects_pass_strict_schema_validation() -> None:
    rec = ok("dev")
    objects = [
        _unwrap(r["wire_inputs"], mask=False)
        for r in rec["resources"]
        if r["custom"] and r["type"].startswith("kubernetes:") and "apiVersion" in r["inputs"]
    ]
    assert {"StatefulSet", "Secret", "NetworkPolicy", "Service"} <= {o["kind"] for o in objects}
    for obj in objects:
        kubernetes_validate.validate(obj, "1.37.0", strict=True)
    # Strict really rejects unknown fields, so the loop above checks something.
    broken = copy.deepcopy(one(rec, "StatefulSet", "postgres"))
    broken["spec"]["volumeClaimTemplate"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.37.0", strict=True)
