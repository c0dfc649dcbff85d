"""Connection-level limits on a real server process (loopback only): header bytes,
header/body read timeouts, the connection cap, in-flight body bytes, clients that
go away mid-body, and Connection: close while draining.

Socket timeouts and deadlines here are hang guards (a server without the limit
would never answer), not speed checks.
"""

from __future__ import annotations

import asyncio
import resource
import signal
import socket
import time
from typing import Any

import httpx
import pytest

from tests.conftest import READER, WRITER, WRITER_TOKEN, ServerProcess, fetch_records, unique_log

URL = "/api/v1/logs/{}/records"
GUARD = 10.0


def open_socket(port: int) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=GUARD)


def recv_all(sock: socket.socket) -> bytes:
    """Everything until the server closes the connection."""
    data = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def request_head(
    path: str, extra: str = "", length: int | None = None, token: str = WRITER_TOKEN
) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    if length is not None:
        head += f"Content-Length: {length}\r\n"
    return (head + extra).encode()


def started(
    server_factory: Any, database: str, preexec_fn: Any = None, **env: str
) -> ServerProcess:
    server: ServerProcess = server_factory(database, **env)
    server.start(preexec_fn=preexec_fn)
    server.wait_ready()
    return server


@pytest.fixture
def server(server_factory: Any, database: str) -> ServerProcess:
    """A server with the default limits."""
    return started(server_factory, database)


def metric(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_oversized_headers_get_431_and_the_connection_is_closed(
    server_factory: Any, database: str
) -> None:
    server = started(server_factory, database, MAX_HEADER_BYTES="16384")
    log = unique_log("headers")
    # Just below the limit: served.
    ok = httpx.post(
        f"{server.base_url}{URL.format(log)}", json=1, headers={**WRITER, "X-Pad": "p" * 14_900}
    )
    assert ok.status_code == 201, ok.text
    # 4 MiB of headers that never end: refused after ~16 KiB, not buffered.
    sock = open_socket(server.port)
    sock.sendall(request_head(URL.format(log)))
    sent = 0
    line = b"X-Filler: " + b"f" * 8000 + b"\r\n"
    try:
        while sent < 4 << 20:
            sock.sendall(line)
            sent += len(line)
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = recv_all(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 431"), response[:200]
    assert sent < 4 << 20, "the server kept reading headers"
    assert [p for _, p in fetch_records(database, log)] == [1]


async def test_slow_headers_and_silent_connections_are_cut_off(
    server_factory: Any, database: str
) -> None:
    server = started(server_factory, database, HEADER_READ_TIMEOUT_SECONDS="0.5")
    silent = open_socket(server.port)
    slow = open_socket(server.port)
    slow.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n")  # never finished
    assert recv_all(silent) == b""  # closed without a word: it never sent a request
    assert recv_all(slow).startswith(b"HTTP/1.1 408")
    silent.close()
    slow.close()
    # A normal keep-alive client is not affected by the header timeout between requests.
    with httpx.Client(base_url=server.base_url) as http:
        for _ in range(3):
            assert http.get("/api/v1/health").status_code == 200
            time.sleep(0.3)


async def test_pipelined_request_with_a_late_body_is_served(
    server: ServerProcess, database: str
) -> None:
    log = unique_log("pipelined")
    sock = open_socket(server.port)
    sock.sendall(
        b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"
        + request_head(URL.format(log), length=11)
        + b"\r\n[1,2"
    )
    response = b""
    while b'"ok"' not in response:
        response += sock.recv(65536)
    sock.sendall(b",3,4,5]")
    while b'"lsns"' not in response:
        chunk = sock.recv(65536)
        assert chunk, response
        response += chunk
    sock.close()
    assert response.startswith(b"HTTP/1.1 200") and b"HTTP/1.1 201" in response, response
    assert [p for _, p in fetch_records(database, log)] == [1, 2, 3, 4, 5]


async def test_slow_body_gets_408(server_factory: Any, database: str) -> None:
    server = started(server_factory, database, BODY_READ_TIMEOUT_SECONDS="0.5")
    log = unique_log("slow-body")
    sock = open_socket(server.port)
    sock.sendall(request_head(URL.format(log), length=100) + b"\r\n[1,")
    response = recv_all(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 408"), response[:200]
    assert b'"body_timeout"' in response
    assert fetch_records(database, log) == []


async def test_health_answers_with_more_slow_clients_than_file_descriptors(
    server_factory: Any, database: str
) -> None:
    """ulimit -n 256 and 300 stalled connections: the oldest idle ones are closed to
    make room, so the liveness probe (and real clients) still get in."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft >= 1024, "the test itself needs file descriptors"

    def low_fd_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))

    server = started(server_factory, database, low_fd_limit, MAX_CONNECTIONS="100")
    stalled = []
    try:
        for _ in range(300):
            s = open_socket(server.port)
            s.sendall(b"GET /api/v1/health HTTP/1.1\r\n")  # headers never completed
            stalled.append(s)
        r = httpx.get(f"{server.base_url}/api/v1/health", timeout=GUARD)
        assert r.status_code == 200
        r = httpx.post(
            f"{server.base_url}{URL.format(unique_log())}", json=1, headers=WRITER, timeout=GUARD
        )
        assert r.status_code == 201
    finally:
        for s in stalled:
            s.close()
    assert server.proc.poll() is None, server.output()


async def test_client_gone_mid_body_is_a_499_not_an_error(
    server: ServerProcess, database: str
) -> None:
    log = unique_log("gone")
    sock = open_socket(server.port)
    sock.sendall(request_head(URL.format(log), length=1000) + b'\r\n[{"half":')
    time.sleep(0.2)
    sock.close()
    deadline = time.monotonic() + GUARD
    metrics = ""
    while metric(metrics, "wal_http_requests_total", method="POST") < 1:
        assert time.monotonic() < deadline, metrics
        time.sleep(0.1)
        metrics = httpx.get(f"{server.base_url}/metrics").text
    assert metric(metrics, "wal_http_requests_total", method="POST", status="499") == 1
    assert metric(metrics, "wal_http_requests_total", status="500") == 0
    output = server.output()
    assert "Traceback" not in output and "unhandled error" not in output, output
    assert "client disconnected" in output
    assert fetch_records(database, log) == []


async def test_draining_responses_carry_connection_close(
    server_factory: Any, database: str
) -> None:
    server = started(server_factory, database, DRAIN_SECONDS="5")
    with httpx.Client(base_url=server.base_url, headers=WRITER) as http:
        assert "close" not in http.get("/api/v1/health").headers.get("connection", "")
        server.signal(signal.SIGTERM)
        deadline = time.monotonic() + GUARD
        while http.get("/api/v1/ready").status_code != 503:
            assert time.monotonic() < deadline
        r = http.post(URL.format(unique_log()), json="during drain")
        assert r.status_code == 201
        assert r.headers["connection"] == "close"
    # The server closed that connection after the response.
    sock = open_socket(server.port)
    sock.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n")
    response = recv_all(sock)
    sock.close()
    assert response.startswith(b"HTTP/1.1 200") and b"connection: close" in response.lower()


async def test_in_flight_bodies_are_bounded(make_app: Any, database: str) -> None:
    """With room for 3 bodies, 10 large appends stuck behind a row lock: 3 reach the
    store, 7 wait without reading their bodies; all are committed afterwards."""
    from tests.conftest import admin_connect

    body = b"[" + b",".join([b'"' + b"x" * 1000 + b'"'] * 50) + b"]"
    inproc = make_app(max_inflight_bytes=3 * len(body) + 10, max_body_bytes=len(body) + 10)
    log = unique_log("inflight")
    async with inproc as client:
        assert (await client.post(URL.format(log), json="first")).status_code == 201
        store, budget = inproc.state.store, inproc.state.budget
        with admin_connect(database) as blocker:
            blocker.execute("BEGIN")
            blocker.execute("SELECT 1 FROM wal_logs WHERE name = %s FOR UPDATE", (log,))
            tasks = [
                asyncio.create_task(client.post(URL.format(log), content=body)) for _ in range(10)
            ]
            deadline = time.monotonic() + GUARD
            while len(budget._waiters) < 7:
                assert time.monotonic() < deadline, "requests did not queue for the budget"
                await asyncio.sleep(0.01)
            queued = len(store._queues.get(log, []))
            assert queued <= 3, queued
            blocker.execute("COMMIT")
        responses = await asyncio.wait_for(asyncio.gather(*tasks), 30)
    assert {r.status_code for r in responses} == {201}
    assert len(fetch_records(database, log)) == 1 + 10 * 50
    assert budget.available == budget.capacity


SECOND = b'"' + b"x" * 4094 + b'"'


async def test_reads_wait_for_room_in_the_budget_too(make_app: Any, database: str) -> None:
    """A page of records is held in memory like a request body: with the budget full, a read
    waits its turn instead of adding its page on top."""
    from tests.conftest import admin_connect

    inproc = make_app(max_inflight_bytes=4096, max_body_bytes=4096)
    log = unique_log("inflight-read")
    async with inproc as client:
        assert (await client.post(URL.format(log), json="first")).status_code == 201
        budget = inproc.state.budget
        with admin_connect(database) as blocker:
            blocker.execute("BEGIN")
            blocker.execute("SELECT 1 FROM wal_logs WHERE name = %s FOR UPDATE", (log,))
            # Holds the whole budget (it reserves its 4096-byte body) until its commit.
            append = asyncio.create_task(client.post(URL.format(log), content=SECOND))
            deadline = time.monotonic() + GUARD
            while budget.available == budget.capacity:
                assert time.monotonic() < deadline, "the append did not reserve its body"
                await asyncio.sleep(0.01)
            read = asyncio.create_task(client.get(URL.format(log)))
            while not budget._waiters:
                assert not read.done(), f"the read did not wait for the budget: {read.result()}"
                assert time.monotonic() < deadline, "the read did not queue for the budget"
                await asyncio.sleep(0.01)
            blocker.execute("COMMIT")
        assert (await asyncio.wait_for(append, 30)).status_code == 201
        page = await asyncio.wait_for(read, 30)
        assert page.status_code == 200, page.text
        # The 4096-byte page holds "first"; the second record would pass the cap, so it comes next.
        assert [r["data"] for r in page.json()["records"]] == ["first"]
        rest = await client.get(URL.format(log), params={"from_lsn": page.json()["next_from_lsn"]})
        assert [r["data"] for r in rest.json()["records"]] == [SECOND.decode().strip('"')]
    assert budget.available == budget.capacity


async def test_an_answer_before_the_body_says_the_connection_closes(server: ServerProcess) -> None:
    """Refused before its body was read (403, 401), a request ends its connection; the answer
    must say `connection: close`, or a keep-alive client or proxy sends its next request into a
    reset. A request whose body was read keeps its connection."""
    log = unique_log("close")
    with httpx.Client(base_url=server.base_url, timeout=GUARD) as http:
        appended = http.post(URL.format(log), json=1, headers=WRITER)
        assert appended.status_code == 201
        assert appended.headers.get("connection") != "close"
        forbidden = http.post(URL.format(log), json=2, headers=READER)
        assert (forbidden.status_code, forbidden.headers.get("connection")) == (403, "close")
        anonymous = http.post(URL.format(log), json=3)
        assert (anonymous.status_code, anonymous.headers.get("connection")) == (401, "close")
        read = http.get(URL.format(log), headers=READER)
        assert read.status_code == 200
        assert read.headers.get("connection") != "close"
