"""The HTTP check against the real sample service on loopback (PostgreSQL on 127.0.0.1:5432 needed)."""

from __future__ import annotations

import hashlib
import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops.diagnose import PROBE_PATH, Ctx, check_anonymous_append, check_authenticated_read
from ops.httpcheck import HttpResult, http_get, http_request

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


def _start(database: str, keys_dir: Path, **extra: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    keys = keys_dir / "api-keys"
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
        **extra,
    }
    if extra.get("AUTH") == "disabled":
        del env["API_KEYS_FILE"]
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
def database() -> Iterator[str]:
    pytest.importorskip("wal_service")
    with socket.socket() as sock:
        if sock.connect_ex(PG) != 0:
            pytest.skip("PostgreSQL is not running on 127.0.0.1:5432")
    name = f"ops_http_{uuid.uuid4().hex[:8]}"
    _psql(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        _psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def service(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    proc, port = _start(database, tmp_path_factory.mktemp("keys"))
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def open_service(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """What verify must catch: the service run with AUTH=disabled."""
    proc, port = _start(database, tmp_path_factory.mktemp("keys"), AUTH="disabled")
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def service_without_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    pytest.importorskip("wal_service")
    proc, port = _start("ops_http_no_such_database", tmp_path_factory.mktemp("keys"))
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


def test_a_refused_method_names_the_services_reason_or_says_forbidden() -> None:
    from ops.httpcheck import classify

    body = b'{"error": {"code": "role_forbids_method", "message": "readers may not append"}}'
    assert classify(403, body, via_ingress=True) == (
        False,
        "the API key's role does not allow this method (role_forbids_method)",
    )
    assert classify(403, b"", via_ingress=True) == (False, "the API key's role does not allow this method (forbidden)")


# --- make verify's API-key checks against the real service ----------------------------------------------------

CTX = Ctx(stack="dev", context="kind-wal-service-cluster", namespace="wal-service-dev", host="dev.wal-service.local")


def _ready(port: int) -> None:
    deadline = time.monotonic() + 10
    while not http_get(f"http://127.0.0.1:{port}/api/v1/ready").ok:
        assert time.monotonic() < deadline, "the sample service never became ready"
        time.sleep(0.2)


def _anonymous_append(port: int) -> HttpResult:
    url = f"http://127.0.0.1:{port}{PROBE_PATH}"
    return http_request("POST", url, headers={"Content-Type": "application/json"}, body=b"")


def test_verify_passes_a_service_that_refuses_anonymous_appends(service: int) -> None:
    _ready(service)
    result = _anonymous_append(service)
    assert (result.status, result.detail) == (401, "unauthorized")
    check = check_anonymous_append("url", result.status, result.summary, result.cause, result.detail, CTX)
    assert check.ok, check.line()


def test_verify_fails_a_service_that_takes_appends_from_anyone(open_service: int, database: str) -> None:
    _ready(open_service)
    result = _anonymous_append(open_service)
    assert (result.status, result.detail) == (400, "empty_body"), result
    check = check_anonymous_append("url", result.status, result.summary, result.cause, result.detail, CTX)
    assert not check.ok and "takes appends from anyone" in check.detail, check.line()
    # The probe itself wrote nothing, even here.
    rows = subprocess.run(
        ["psql", "-h", PG[0], "-U", "postgres", "-d", database, "-tAc", "SELECT count(*) FROM wal_records"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout.strip()  # fmt: skip
    assert rows == "0"


def test_verify_reads_with_the_stacks_key_and_a_wrong_key_is_refused(service: int) -> None:
    _ready(service)
    url = f"http://127.0.0.1:{service}{PROBE_PATH}?limit=1"
    good = http_request("GET", url, headers={"Authorization": f"Bearer {TOKEN}"})
    check = check_authenticated_read(url, good.status, good.summary, good.cause, "WAL_API_TOKEN", CTX)
    assert check.ok, check.line()
    bad = http_request("GET", url, headers={"Authorization": "Bearer " + "x" * 40})
    check = check_authenticated_read(url, bad.status, bad.summary, bad.cause, "WAL_API_TOKEN", CTX)
    assert not check.ok and "the key is refused" in check.detail
    assert "x" * 40 not in check.line(), "a token in a check line"


def test_the_check_asks_for_the_stacks_host_and_the_path_it_was_given() -> None:
    """The Gateway routes by Host: a check that sent the address it connects to would test another route."""
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from threading import Thread

    seen: list[tuple[str, str, str | None]] = []

    class Recorder(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            seen.append((self.command, self.path, self.headers.get("Host")))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Recorder)
    port = server.server_address[1]
    serving = Thread(target=lambda: [server.handle_request() for _ in range(2)], daemon=True)
    serving.start()
    try:
        routed = http_get(f"http://127.0.0.1:{port}/api/v1/records?limit=1", host_header="dev.wal-service.local")
        direct = http_get(f"http://127.0.0.1:{port}/api/v1/health")
    finally:
        serving.join(timeout=10)
        server.server_close()
    assert seen == [
        ("GET", "/api/v1/records?limit=1", "dev.wal-service.local"),
        ("GET", "/api/v1/health", f"127.0.0.1:{port}"),
    ]
    assert routed.status == direct.status == 204


def test_a_connection_closed_without_an_answer_is_reported_as_broken() -> None:
    """What a proxy does when its upstream dies mid-request: no status line at all."""
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen(1)
    port = listening.getsockname()[1]

    def hang_up() -> None:
        connection, _ = listening.accept()
        connection.recv(1024)
        connection.close()

    from threading import Thread

    closer = Thread(target=hang_up, daemon=True)
    closer.start()
    try:
        result = http_get(f"http://127.0.0.1:{port}/api/v1/health", timeout=5)
    finally:
        closer.join(timeout=10)
        listening.close()
    assert (result.ok, result.status, result.cause) == (False, None, "the connection broke")
    assert result.summary.startswith("request failed: ")
