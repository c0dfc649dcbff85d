"""The HTTP check against the real sample service on loopback (PostgreSQL on 127.0.0.1:5432 needed)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.httpcheck import http_get

PG = ("127.0.0.1", 5432)
# The sample service's one key (a writer), as the platform's keys file holds it: name:role:sha256 of the token.
TOKEN = "ops-check-" + "t" * 40
KEYS_FILE = f"ops-check:writer:{hashlib.sha256(TOKEN.encode()).hexdigest()}\n"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _psql(sql: str) -> None:
    subprocess.run(["psql", "-h", PG[0], "-U", "postgres", "-qc", sql], check=True, capture_output=True, timeout=30)


def _start(database: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    keys = Path(tempfile.mkdtemp(prefix="ops-http-")) / "api-keys"
    keys.write_text(KEYS_FILE)
    env = {
        **os.environ,
        "DATABASE_HOST": PG[0],
        "DATABASE_USER": "postgres",
        "DATABASE_NAME": database,
        "PORT": str(port),
        "LOG_LEVEL": "warning",
        "DRAIN_SECONDS": "0",
        "API_KEYS_FILE": str(keys),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "wal_service", "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if http_get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).ok:
            return proc, port
        time.sleep(0.1)
    proc.kill()
    proc.wait(timeout=5)
    pytest.fail("the sample service did not start within 15 s")


@pytest.fixture(scope="module")
def service() -> Iterator[int]:
    pytest.importorskip("wal_service")
    with socket.socket() as sock:
        if sock.connect_ex(PG) != 0:
            pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    database = f"ops_http_{uuid.uuid4().hex[:8]}"
    _psql(f"CREATE DATABASE {database}")
    proc, port = _start(database)
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        _psql(f"DROP DATABASE IF EXISTS {database}")


@pytest.fixture(scope="module")
def service_without_database() -> Iterator[int]:
    pytest.importorskip("wal_service")
    proc, port = _start("ops_http_no_such_database")
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_health_answers_200_with_and_without_host_header(service: int) -> None:
    plain = http_get(f"http://127.0.0.1:{service}/api/v1/health")
    assert plain.ok and plain.status == 200 and plain.summary.startswith("200 in ")
    with_host = http_get(f"http://127.0.0.1:{service}/api/v1/health", host_header="dev.wal-service.local")
    assert with_host.ok and with_host.status == 200


def test_readiness_200_once_migrated(service: int) -> None:
    deadline = time.monotonic() + 10
    result = http_get(f"http://127.0.0.1:{service}/api/v1/ready")
    while not result.ok and time.monotonic() < deadline:
        time.sleep(0.2)
        result = http_get(f"http://127.0.0.1:{service}/api/v1/ready")
    assert result.ok and result.status == 200


def test_unknown_path_is_the_services_own_404(service: int) -> None:
    result = http_get(f"http://127.0.0.1:{service}/nope", host_header="dev.wal-service.local")
    assert (result.ok, result.status) == (False, 404)
    assert result.cause == "the service has no such path (not_found)"


def test_not_ready_service_gives_its_reason(service_without_database: int) -> None:
    result = http_get(f"http://127.0.0.1:{service_without_database}/api/v1/ready")
    assert (result.ok, result.status) == (False, 503)
    assert result.cause.startswith("the service answers but is not ready (database unreachable: ")


def test_nothing_listening_is_connection_refused() -> None:
    port = free_port()
    result = http_get(f"http://127.0.0.1:{port}/api/v1/health", host_header="dev.wal-service.local")
    assert result == type(result)(False, None, "connection refused", f"nothing listens on 127.0.0.1:{port}")


def test_silent_listener_times_out() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        result = http_get(f"http://127.0.0.1:{sock.getsockname()[1]}/", timeout=0.5)
    assert result.summary == "no answer within 0.5 s"


def test_ingress_statuses_are_worded_for_the_ingress() -> None:
    from ops.httpcheck import classify

    assert classify(404, b"<html>default backend - 404</html>", via_ingress=True) == (
        False,
        "the ingress controller has no rule for this Host and path (the answer is its default backend)",
    )
    assert classify(502, b"", via_ingress=True)[1].startswith("the ingress controller cannot reach the pods")
