"""API keys: who may read and who may append (in-process app and real server processes,
real PostgreSQL). Every refusal writes nothing; no token, hash or Authorization header
reaches a log line or the metrics."""

from __future__ import annotations

import hashlib
import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    READER,
    READER_TOKEN,
    WRITER,
    WRITER_TOKEN,
    ServerProcess,
    fetch_records,
    interpreter_env,
    unique_log,
)
from wal_service import auth
from wal_service.auth import Authenticator, key_line, parse_keys

URL = "/api/v1/logs/{}/records"
UNKNOWN_TOKEN = "not-a-key-" + "u" * 32
GUARD = 10.0


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# ------------------------------------------------------------------ who may do what
@pytest.mark.parametrize(
    ("headers", "challenge"),
    [
        ({}, 'Bearer realm="wal-service"'),
        (bearer(UNKNOWN_TOKEN), 'Bearer realm="wal-service", error="invalid_token"'),
        (
            {"Authorization": f"Basic {WRITER_TOKEN}"},
            'Bearer realm="wal-service", error="invalid_request"',
        ),
        ({"Authorization": "Bearer"}, 'Bearer realm="wal-service", error="invalid_request"'),
        ({"Authorization": "Bearer a b"}, 'Bearer realm="wal-service", error="invalid_request"'),
        ({"Authorization": WRITER_TOKEN}, 'Bearer realm="wal-service", error="invalid_request"'),
    ],
    ids=["none", "unknown", "basic-scheme", "no-token", "two-words", "no-scheme"],
)
async def test_without_a_valid_key_nothing_is_read_or_written(
    make_app: Any, database: str, headers: dict[str, str], challenge: str
) -> None:
    log = unique_log("anon")
    async with make_app() as client:
        assert (await client.post(URL.format(log), json="by a writer")).status_code == 201
        client.headers.pop("Authorization")
        for method in ("POST", "GET"):
            r = await client.request(method, URL.format(log), json={"x": 1}, headers=headers)
            assert r.status_code == 401, (method, r.text)
            assert r.headers["www-authenticate"] == challenge
            assert r.json()["error"]["code"] == "unauthorized"
            assert "by a writer" not in r.text
    assert [p for _, p in fetch_records(database, log)] == ["by a writer"]


async def test_two_authorization_headers_are_refused(make_app: Any, database: str) -> None:
    log = unique_log("twice")
    async with make_app() as client:
        client.headers.pop("Authorization")
        r = await client.post(
            URL.format(log),
            json=1,
            headers=[
                ("Authorization", f"Bearer {WRITER_TOKEN}"),
                ("Authorization", f"Bearer {WRITER_TOKEN}"),
            ],
        )
    assert r.status_code == 401 and "invalid_request" in r.headers["www-authenticate"]
    assert fetch_records(database, log) == []


async def test_a_reader_reads_but_may_not_append(client: httpx.AsyncClient, database: str) -> None:
    log = unique_log("reader")
    assert (await client.post(URL.format(log), json="first")).status_code == 201
    r = await client.get(URL.format(log), headers=READER)
    assert r.status_code == 200 and [rec["data"] for rec in r.json()["records"]] == ["first"]
    r = await client.post(URL.format(log), json="second", headers=READER)
    assert r.status_code == 403, r.text
    assert r.json()["error"]["code"] == "forbidden"
    assert r.headers["www-authenticate"] == 'Bearer realm="wal-service", error="insufficient_scope"'
    assert [p for _, p in fetch_records(database, log)] == ["first"]


async def test_a_writer_appends_and_reads_and_the_scheme_is_case_insensitive(
    client: httpx.AsyncClient, database: str
) -> None:
    log = unique_log("writer")
    r = await client.post(
        URL.format(log), json=1, headers={"Authorization": f"bearer {WRITER_TOKEN}"}
    )
    assert r.status_code == 201, r.text
    r = await client.get(URL.format(log), headers=WRITER)
    assert r.status_code == 200 and [rec["data"] for rec in r.json()["records"]] == [1]


async def test_probes_and_metrics_stay_open_and_unknown_paths_under_logs_do_not(
    make_app: Any,
) -> None:
    async with make_app() as client:
        client.headers.pop("Authorization")
        for path in ("/api/v1/health", "/api/v1/ready", "/metrics"):
            assert (await client.get(path)).status_code == 200, path
        # No probing for what exists under the prefix without a key.
        for path in ("/api/v1/logs/x/nothing", "/api/v1/logs", "/api/v1/logs/"):
            assert (await client.get(path)).status_code == 401, path
        assert (await client.get("/api/v1/logs/x/nothing", headers=READER)).status_code == 404


async def test_failures_are_counted_by_reason_and_no_secret_reaches_the_metrics(
    client: httpx.AsyncClient,
) -> None:
    log = unique_log("counted")
    client.headers.pop("Authorization")
    await client.post(URL.format(log), json=1)
    for _ in range(2):
        await client.get(URL.format(log), headers=bearer(UNKNOWN_TOKEN))
    for _ in range(3):
        await client.post(URL.format(log), json=1, headers={"Authorization": "Basic eDp5"})
    for _ in range(4):
        await client.post(URL.format(log), json=1, headers=READER)
    text = (await client.get("/metrics")).text
    expected = {"missing": 1, "malformed": 3, "unknown": 2, "forbidden": 4}
    for reason, count in expected.items():
        assert metric(text, "wal_auth_failures_total", reason=reason) == count, (reason, text)
    assert metric(text, "wal_http_requests_total", status="401") == 6
    assert metric(text, "wal_http_requests_total", status="403") == 4
    for secret in (
        UNKNOWN_TOKEN,
        READER_TOKEN,
        WRITER_TOKEN,
        hashlib.sha256(READER_TOKEN.encode()).hexdigest(),
    ):
        assert secret not in text


def test_every_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    keys = parse_keys(
        "\n".join(key_line(f"k{i}", "writer", f"token-{i}-" + "x" * 32) for i in range(5))
    )
    calls: list[tuple[bytes, bytes]] = []
    real = auth.hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    authenticator = Authenticator(keys)
    found = authenticator.identify(("token-0-" + "x" * 32).encode())
    assert found is not None and found.name == "k0"
    # The match is the first key, yet every key was compared, and only hashes (never the token).
    assert len(calls) == 5
    assert all(len(a) == len(b) == 32 for a, b in calls)
    assert authenticator.identify(b"token-9-" + b"x" * 32) is None


# ------------------------------------------------------------------ a real server
def _started(server_factory: Any, database: str, **env: str) -> ServerProcess:
    server: ServerProcess = server_factory(database, **env)
    server.start()
    server.wait_ready()
    return server


async def test_access_log_names_the_key_and_never_the_token(
    server_factory: Any, database: str
) -> None:
    server = _started(server_factory, database)
    log = unique_log("audit")
    with httpx.Client(base_url=server.base_url, timeout=GUARD) as http:
        assert http.post(URL.format(log), json=1, headers=WRITER).status_code == 201
        assert http.get(URL.format(log), headers=READER).status_code == 200
        assert http.post(URL.format(log), json=2, headers=READER).status_code == 403
        assert http.post(URL.format(log), json=3, headers=bearer(UNKNOWN_TOKEN)).status_code == 401
        assert http.post(URL.format(log), json=4).status_code == 401
    deadline = time.monotonic() + GUARD
    while (output := server.output()).count('"wal_service.access"') < 5:
        assert time.monotonic() < deadline, output
        time.sleep(0.05)
    lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    access = [
        (e.get("method"), e.get("status"), e.get("api_key"), e.get("auth_failure"))
        for e in lines
        if e["logger"] == "wal_service.access"
    ]
    assert access == [
        ("POST", 201, "test-writer", None),
        ("GET", 200, "test-reader", None),
        ("POST", 403, "test-reader", "forbidden"),
        ("POST", 401, None, "unknown"),
        ("POST", 401, None, "missing"),
    ], output
    (started,) = [e for e in lines if e["msg"] == "service started"]
    assert started["api_keys"] == ["test-writer:writer", "test-reader:reader"]
    for token in (WRITER_TOKEN, READER_TOKEN, UNKNOWN_TOKEN):
        assert token not in output
        assert hashlib.sha256(token.encode()).hexdigest() not in output
    assert "bearer" not in output.lower() and "authorization" not in output.lower()
    assert [p for _, p in fetch_records(database, log)] == [1]


async def test_limits_apply_before_the_key_check(server_factory: Any, database: str) -> None:
    """Without a key a client gets no further than with one: oversized headers are 431 and
    an append is refused before its body is read (the connection closes, nothing waits for it)."""
    server = _started(server_factory, database, MAX_HEADER_BYTES="4096")
    log = unique_log("limits")
    with socket.create_connection(("127.0.0.1", server.port), timeout=GUARD) as sock:
        sock.sendall(
            f"POST {URL.format(log)} HTTP/1.1\r\nHost: x\r\nX-Pad: {'p' * 8000}\r\n\r\n".encode()
        )
        assert sock.recv(65536).startswith(b"HTTP/1.1 431")
    with socket.create_connection(("127.0.0.1", server.port), timeout=GUARD) as sock:
        sock.sendall(
            f"POST {URL.format(log)} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 1000000\r\n\r\n[1,".encode()
        )
        response = b""
        while chunk := sock.recv(65536):  # the server closes: it does not wait for the body
            response += chunk
    assert response.startswith(b"HTTP/1.1 401"), response[:200]
    assert fetch_records(database, log) == []
    metrics = httpx.get(f"{server.base_url}/metrics", timeout=GUARD).text
    # Nothing was reserved for the body it announced.
    assert "\nwal_inflight_body_bytes 0.0\n" in metrics
    assert metric(metrics, "wal_auth_failures_total", reason="missing") == 1


def _run(env: dict[str, str], seconds: float = 20) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wal_service", "--host", "127.0.0.1"],
        env={**interpreter_env(), **env},
        capture_output=True,
        text=True,
        timeout=seconds,
    )


def test_without_a_keys_file_the_service_refuses_to_start_naming_it() -> None:
    result = _run({})
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("wal-service: configuration error: API_KEYS_FILE is not set")
    assert "AUTH=disabled" in line


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "has no keys"),
        ("# only a comment\n", "has no keys"),
        ("ci:writer\n", "line 1 must be <name>:<role>:<sha256 hex of the token>"),
        (f"ci:admin:{'a' * 64}\n", "line 1: key 'ci' has role 'admin'"),
        (f"# c\nci:writer:{'a' * 63}\n", "line 2: key 'ci' needs the sha256"),
        (f"-ci:writer:{'a' * 64}\n", "line 1: key name"),
        (f"ci:writer:{'a' * 64}\nci:reader:{'b' * 64}\n", "line 2: key name 'ci' appears twice"),
        (f"a:writer:{'c' * 64}\nb:reader:{'C' * 64}\n", "line 2: key 'b' has the same token"),
    ],
)
def test_a_bad_keys_file_is_one_line_naming_the_line_but_not_the_hash(
    tmp_path: Path, text: str, problem: str
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(text)
    result = _run({"API_KEYS_FILE": str(keys)})
    assert result.returncode == 2
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"wal-service: configuration error: API_KEYS_FILE='{keys}' is invalid: ")
    assert problem in line
    assert "a" * 40 not in line and "c" * 40 not in line.lower()


def test_an_unreadable_keys_file_names_it(tmp_path: Path) -> None:
    result = _run({"API_KEYS_FILE": str(tmp_path / "missing")})
    assert result.returncode == 2
    assert "API_KEYS_FILE=" in result.stderr and "No such file" in result.stderr


def test_auth_disabled_and_a_keys_file_together_are_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    keys.write_text(key_line("ci", "writer", WRITER_TOKEN))
    result = _run({"API_KEYS_FILE": str(keys), "AUTH": "disabled"})
    assert result.returncode == 2
    assert "AUTH='disabled' is invalid: API_KEYS_FILE is set too" in result.stderr


async def test_auth_disabled_serves_without_keys_and_warns_at_start(
    server_factory: Any, database: str
) -> None:
    server: ServerProcess = server_factory(database, AUTH="disabled")
    del server.env["API_KEYS_FILE"]
    server.start()
    server.wait_ready()
    log = unique_log("open")
    r = httpx.post(f"{server.base_url}{URL.format(log)}", json=1, timeout=GUARD)
    assert r.status_code == 201, r.text
    warnings = [
        json.loads(line)
        for line in server.output().splitlines()
        if line.startswith("{") and '"warning"' in line
    ]
    assert any("authentication disabled (AUTH=disabled)" in w["msg"] for w in warnings), (
        server.output()
    )


async def test_a_server_with_keys_refuses_an_anonymous_append_and_serves_a_writer(
    server_factory: Any, database: str
) -> None:
    server = _started(server_factory, database)
    log = unique_log("real")
    with httpx.Client(base_url=server.base_url, timeout=GUARD) as http:
        r = http.post(URL.format(log), json=1)
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        assert http.post(URL.format(log), json=2, headers=WRITER).status_code == 201
        deadline = time.monotonic() + GUARD
        while "wal_auth_failures_total" not in (text := http.get("/metrics").text):
            assert time.monotonic() < deadline
    assert metric(text, "wal_auth_failures_total", reason="missing") == 1
    assert [p for _, p in fetch_records(database, log)] == [2]
