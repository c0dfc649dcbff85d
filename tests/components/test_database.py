"""Database component: both modes, secrets kept secret, policies that really match, volume lifecycle."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import kubernetes_validate
import pytest

from components.database import Connection, Database, DatabaseArgs, ExternalServer, InClusterServer
from components.stack_config import SECRET_PLACEHOLDER
from tests import schemas
from tests.components.test_api_keys import generated_keys_checksum
from tests.conftest import PROD_API_KEYS, crediting_cache
from tools.mockrun import SECRET_SIG, SIG_KEY, _unwrap
from tools.render import run_stack

PROD_SECRETS = (
    "wal-service:databasePassword={secure: v1:mock}",
    "wal-service:registryPassword={secure: v1:mock}",
    f"wal-service:apiKeys={{secret: '{PROD_API_KEYS}'}}",
)
PROD_PASSWORD = SECRET_PLACEHOLDER.format(key="wal-service:databasePassword")
DB_ENV = {"DATABASE_HOST", "DATABASE_PORT", "DATABASE_NAME", "DATABASE_USER", "DATABASE_SSLMODE"}


@crediting_cache
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


def generated_passwords(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """The database password RandomPassword (not the checksum key beside it)."""
    return [r for r in resources(rec, "random:index/randomPassword:RandomPassword") if r["name"].endswith("-password")]


def mock_random_password(rec: dict[str, Any]) -> str:
    """The value the mock RandomPassword returns (tools.mockrun._fake_outputs)."""
    (password,) = generated_passwords(rec)
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
    (password,) = generated_passwords(rec)
    # The sync script puts the password between single quotes in SQL: only letters and digits are safe there.
    assert password["inputs"]["special"] is False and password["inputs"]["length"] >= 32, password["inputs"]

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
    rec = record("prod", PROD_SECRETS[2:])
    assert rec["error"] is not None
    assert "pulumi config set --secret wal-service:databasePassword <password> -s prod" in rec["error"]


def test_external_mode_creates_only_the_password_secret() -> None:
    rec = ok("prod", PROD_SECRETS)
    db = [r for r in rec["resources"] if "-database" in r["name"]]
    assert sorted(r["type"] for r in db) == [
        "kubernetes:core/v1:Secret",
        "random:index/randomPassword:RandomPassword",  # the checksum key, not a password
        "wal:platform:Database",
    ], [r["urn"] for r in db]
    assert not generated_passwords(rec)
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
    sets = ("wal-service:databasePassword=hunter2", *PROD_SECRETS[1:])
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
    assert not matches(one(rec, "NetworkPolicy", "allow-gateway")["spec"]["podSelector"]["matchLabels"], postgres)


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
    assert spec["enableServiceLinks"] is False
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
        assert set(limits) == set(requests) == {"cpu", "memory", "ephemeral-storage"}, name
    (postgres,) = spec["containers"]
    mounts = {m["mountPath"]: m["name"] for m in postgres["volumeMounts"]}
    assert mounts == {
        "/var/lib/postgresql/data": "data",
        "/run/secrets/postgres": "password",
        "/var/run/postgresql": "run",
        "/tmp": "tmp",
    }
    # During initdb the entrypoint's temporary server listens on the socket only: startup waits for TCP.
    startup = postgres["startupProbe"]["exec"]["command"]
    assert startup[0] == "pg_isready" and "127.0.0.1" in startup, startup


def postgres_probes(stack: str) -> tuple[dict[str, Any], dict[str, Any]]:
    (postgres,) = one(ok(stack), "StatefulSet", "postgres")["spec"]["template"]["spec"]["containers"]
    return postgres["readinessProbe"], postgres["livenessProbe"]


def failing_for(probe: dict[str, Any]) -> int:
    """At most how long the probe fails (every attempt timing out) before the kubelet acts on it."""
    return int(probe["failureThreshold"]) * (int(probe["periodSeconds"]) + int(probe["timeoutSeconds"]))


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_a_slow_database_leaves_rotation_long_before_it_is_killed(stack: str) -> None:
    readiness, liveness = postgres_probes(stack)
    assert readiness["exec"] != liveness["exec"], f"{stack}: postgres readiness and liveness run the same check"
    ready = readiness["exec"]["command"]
    # Ready means it answers a query where the service connects: TCP, the service's database and user, no password
    # prompt to hang on.
    assert ready[0] == "psql" and "SELECT 1" in ready and "--no-password" in ready, ready
    assert ready[ready.index("-h") + 1] == "127.0.0.1", ready
    assert (ready[ready.index("-U") + 1], ready[ready.index("-d") + 1]) == ("wal", "wal"), ready
    assert readiness["timeoutSeconds"] < liveness["timeoutSeconds"], f"{stack}: readiness must give up first"
    assert failing_for(readiness) <= 20, f"{stack}: a database that cannot answer stays in rotation too long"
    assert failing_for(liveness) >= 3 * failing_for(readiness), (
        f"{stack}: liveness acts after {failing_for(liveness)} s, readiness after {failing_for(readiness)} s: a slow "
        "database would be restarted instead of waited for"
    )
    assert failing_for(liveness) >= 120, f"{stack}: liveness kills a database that is silent for under two minutes"


FAKE_PG_ISREADY = """#!/bin/sh
printf '%s\n' "$@" > "$CALLS/pg_isready"
exit "$FAKE_EXIT"
"""


@pytest.mark.parametrize(
    ("pg_isready_exit", "alive"),
    # 0: accepting connections; 1: answering but rejecting them (crash recovery, shutdown); 2: no answer; 3: no attempt.
    [(0, True), (1, True), (2, False), (3, False)],
)
def test_liveness_asks_only_whether_the_server_answers(tmp_path: Any, pg_isready_exit: int, alive: bool) -> None:
    _, liveness = postgres_probes("dev")
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    calls.mkdir()
    (bin_dir / "pg_isready").write_text(FAKE_PG_ISREADY)
    (bin_dir / "pg_isready").chmod(0o755)
    proc = subprocess.run(
        liveness["exec"]["command"],
        env={"PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(calls), "FAKE_EXIT": str(pg_isready_exit)},
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert (proc.returncode == 0) == alive, f"pg_isready exit {pg_isready_exit}: liveness exit {proc.returncode}"
    argv = (calls / "pg_isready").read_text().splitlines()
    # The server's socket: no TCP, no login, nothing a slow query path can hold up.
    assert argv[argv.index("-h") + 1] == "/var/run/postgresql" and "-U" not in argv, argv


def test_rendered_dev_objects_pass_strict_schema_validation() -> None:
    rec = ok("dev")
    objects = [
        _unwrap(r["wire_inputs"], mask=False)
        for r in rec["resources"]
        if r["custom"] and r["type"].startswith("kubernetes:") and "apiVersion" in r["inputs"]
    ]
    assert {"StatefulSet", "Secret", "NetworkPolicy", "Service"} <= {o["kind"] for o in objects}
    for obj in objects:
        schemas.validate(obj)
    # Strict really rejects unknown fields, so the loop above checks something.
    broken = copy.deepcopy(one(rec, "StatefulSet", "postgres"))
    broken["spec"]["volumeClaimTemplate"] = []
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, "1.37.0", strict=True)


# -- the password sync init container, run for real against a stand-in postgres ----------------------

FAKE_POSTGRES = """#!/bin/sh
# Stands in for `postgres --single` on a volume whose postgresql.conf logs every statement
# (log_statement=all) and every failing one: it records how it was called, prints the statement on
# stdout as a verbose backend would, and logs it on stderr unless the command line overrides that.
printf '%s\\n' "$@" > "$CALLS/argv"
cat > "$CALLS/stdin"
statement=$(cat "$CALLS/stdin")
echo "backend> $statement"
case " $* " in *" log_statement=none "*) ;; *) echo "LOG:  statement: $statement" >&2 ;; esac
if [ "${FAKE_EXIT:-0}" != 0 ]; then
  case " $* " in *" log_min_error_statement=panic "*) ;; *) echo "STATEMENT:  $statement" >&2 ;; esac
  echo "FATAL:  could not apply the password" >&2
fi
exit "${FAKE_EXIT:-0}"
"""


def run_sync_script(tmp_path: Any, *, existing_data: bool, fake_exit: int = 0) -> tuple[Any, str]:
    (sync,) = one(ok("dev"), "StatefulSet", "postgres")["spec"]["template"]["spec"]["initContainers"]
    env = {e["name"]: e["value"] for e in sync["env"]}
    bin_dir, calls, data = tmp_path / "bin", tmp_path / "calls", tmp_path / "pgdata"
    for folder in (bin_dir, calls, data):
        folder.mkdir()
    (bin_dir / "postgres").write_text(FAKE_POSTGRES)
    (bin_dir / "postgres").chmod(0o755)
    if existing_data:
        (data / "PG_VERSION").write_text("17\n")
    (tmp_path / "password").write_text("S3cretPassw0rd")
    proc = subprocess.run(
        sync["command"],
        env={
            **env,
            "PGDATA": str(data),
            "POSTGRES_PASSWORD_FILE": str(tmp_path / "password"),
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "CALLS": str(calls),
            "FAKE_EXIT": str(fake_exit),
        },
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    return proc, env["POSTGRES_USER"]


def test_password_sync_applies_the_password_without_logging_it(tmp_path: Any) -> None:
    proc, user = run_sync_script(tmp_path, existing_data=True)
    assert proc.returncode == 0, proc.stderr
    calls = tmp_path / "calls"
    assert (calls / "stdin").read_text() == f"ALTER ROLE \"{user}\" PASSWORD 'S3cretPassw0rd';\n"
    argv = (calls / "argv").read_text().splitlines()
    assert argv[:3] == ["--single", "-D", str(tmp_path / "pgdata")], argv
    assert "S3cretPassw0rd" not in proc.stdout + proc.stderr, "the ALTER ROLE statement reached the pod's log"


def test_password_sync_skips_a_fresh_volume_and_fails_loudly(tmp_path: Any) -> None:
    (tmp_path / "fresh").mkdir()
    fresh, _ = run_sync_script(tmp_path / "fresh", existing_data=False)
    assert fresh.returncode == 0 and not (tmp_path / "fresh" / "calls" / "argv").exists(), "initdb sets it there"
    (tmp_path / "failing").mkdir()
    failing, _ = run_sync_script(tmp_path / "failing", existing_data=True, fake_exit=1)
    assert failing.returncode != 0, "a failed sync must stop the pod, not start postgres with the old password"
    assert "could not apply" in failing.stderr, "the failure itself must stay visible"
    assert "S3cretPassw0rd" not in failing.stdout + failing.stderr, "a failing ALTER ROLE was logged with its password"


# -- built from its args alone ----------------------------------------------------------------------------

CONNECTION = Connection(name="unitdb", user="unituser", ssl_mode="disable")


def test_in_cluster_from_args_alone(build_component: Any) -> None:
    args = DatabaseArgs(
        namespace="unit",
        instance="unit-database",
        labels={"app.kubernetes.io/instance": "unit", "app.kubernetes.io/version": "v1"},
        client_selector={"app": "client"},
        connection=CONNECTION,
        server=InClusterServer(image="postgres:17.11-bookworm", storage_size="3Gi", retain_on_delete=True),
    )
    run = build_component(lambda: Database("unit-db", args))
    statefulset = run.one("StatefulSet")
    pod = statefulset.spec["template"]["spec"]
    volumes = {v["name"]: v for v in pod["volumes"]}
    # Group-readable: the kubelet gives the file the pod's fsGroup, the postgres user's group.
    assert volumes["password"]["secret"]["defaultMode"] == 0o440
    assert pod["securityContext"]["fsGroup"] == 999
    assert statefulset.spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "3Gi"
    assert statefulset.spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Retain"
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    assert (env["POSTGRES_USER"], env["POSTGRES_DB"]) == ("unituser", "unitdb")
    assert statefulset.spec["selector"]["matchLabels"]["app.kubernetes.io/instance"] == "unit-database"
    (rule,) = run.one("NetworkPolicy").spec["ingress"]
    assert rule["from"] == [{"podSelector": {"matchLabels": {"app": "client"}}}]


def test_external_from_args_alone(build_component: Any) -> None:
    import pulumi

    def make() -> None:
        server = ExternalServer(
            host="db.example.com", port=6543, cidr="10.1.2.3/32", password=pulumi.Output.secret("pw")
        )
        Database("unit-db", DatabaseArgs("unit", "unit-database", {}, {"app": "client"}, CONNECTION, server))

    run = build_component(make)
    assert [o.kind for o in run.objects()] == ["Secret"], "an external server needs only the password Secret"
    assert run.one("Secret").body["stringData"] == {"password": "[secret]"}


def test_debug_selector_shows_the_service_pods_only() -> None:
    """`debugCommands` select pods by the service's instance label: the database pods carry their own."""
    rec = ok("dev")
    selector = rec["outputs"]["debugCommands"]["1-pods"].split(" -l ", 1)[1].split()[0]
    key, _, value = selector.partition("=")
    app = one(rec, "Deployment", "wal-service")["spec"]["template"]["metadata"]["labels"]
    postgres = one(rec, "StatefulSet", "postgres")["spec"]["template"]["metadata"]["labels"]
    assert app[key] == value, f"{selector} misses the service's pods"
    assert postgres[key] != value, f"{selector} also lists the database pods"


# -- a changed password reaches the pods ----------------------------------------------------------------


def mock_result(name: str) -> str:
    """What the mock RandomPassword called `name` returns (tools.mockrun._fake_outputs)."""
    return "mock-random-" + hashlib.sha256(name.encode()).hexdigest()[:24]


def test_server_pods_roll_on_a_keyed_checksum_of_the_password(build_component: Any) -> None:
    """The Secret is updated in place and postgres applies the password only in its sync container at start:
    the pod template carries a digest of it, keyed by a random value in stack state, so the annotation
    changes with the password but is no plain hash anyone could brute-force a chosen password from."""
    args = DatabaseArgs(
        namespace="unit",
        instance="unit-database",
        labels={},
        client_selector={"app": "client"},
        connection=CONNECTION,
        server=InClusterServer(image="postgres:17.11-bookworm", storage_size="1Gi"),
    )
    run = build_component(lambda: Database("unit-db", args))
    annotation = run.one("StatefulSet").spec["template"]["metadata"]["annotations"]["checksum/secret"]
    password, key = mock_result("unit-db-password"), mock_result("unit-db-checksum-key")
    data = json.dumps({"password": password}, sort_keys=True).encode()
    assert annotation == hmac.new(key.encode(), data, hashlib.sha256).hexdigest()
    for plain in (password.encode(), data):
        assert annotation != hashlib.sha256(plain).hexdigest(), "a plain hash of the password"
    (checksum_key,) = [r for r in run.registrations if r["name"] == "unit-db-checksum-key"]
    assert (
        checksum_key["type"] == "random:index/randomPassword:RandomPassword" and checksum_key["inputs"]["length"] >= 32
    )


def test_a_new_external_password_changes_the_checksum(build_component: Any) -> None:
    import pulumi

    checksums: list[Any] = []

    def make(password: str) -> Any:
        def program() -> None:
            server = ExternalServer(
                host="db.example.com", port=5432, cidr="10.1.2.3/32", password=pulumi.Output.secret(password)
            )
            database = Database("unit-db", DatabaseArgs("unit", "unit-database", {}, {}, CONNECTION, server))
            database.password_checksum.apply(checksums.append)

        return program

    build_component(make("first"))
    build_component(make("first"))
    build_component(make("second"))
    assert checksums[0] == checksums[1] != checksums[2], checksums


@pytest.mark.parametrize("stack", ["dev", "staging"])
def test_service_pods_roll_with_the_database_secret(stack: str) -> None:
    """The service reads DATABASE_PASSWORD from that Secret (and its keys file from another): its pod template
    follows the same digest."""
    from components.checksums import combine

    rec = ok(stack)
    server = one(rec, "StatefulSet", "postgres")["spec"]["template"]["metadata"]["annotations"]["checksum/secret"]
    service = one(rec, "Deployment", "wal-service")["spec"]["template"]["metadata"]["annotations"]
    assert service.get("checksum/secrets") == combine([server, generated_keys_checksum(stack)]), service
