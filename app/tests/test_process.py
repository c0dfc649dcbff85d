"""Real server processes: SIGKILL durability, SIGTERM drain-then-stop, config errors."""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.conftest import WRITER, WRITER_TOKEN, fetch_records, interpreter_env, unique_log

URL = "/api/v1/logs/{}/records"


async def _load(
    base_url: str,
    log: str,
    clients: int,
    stop: asyncio.Event,
    acked: dict[int, Any],
    statuses: list[tuple[float, int]],
    max_requests: int = 5000,
) -> None:
    """Append until ``stop`` (or max_requests per client); remember every 2xx LSN."""

    async def one(cid: int) -> None:
        async with httpx.AsyncClient(base_url=base_url, headers=WRITER, timeout=5.0) as http:
            for seq in range(max_requests):
                if stop.is_set():
                    return
                batch = [{"c": cid, "s": seq, "i": i} for i in range(1 + seq % 3)]
                try:
                    r = await http.post(URL.format(log), json=batch)
                except httpx.TransportError:
                    statuses.append((time.monotonic(), -1))
                    await asyncio.sleep(0.01)
                    continue
                statuses.append((time.monotonic(), r.status_code))
                if r.status_code == 201:
                    for lsn, rec in zip(r.json()["lsns"], batch, strict=True):
                        acked[lsn] = rec

    await asyncio.gather(*(one(c) for c in range(clients)))


async def test_acknowledged_appends_survive_sigkill(server_factory: Any, database: str) -> None:
    log = unique_log("kill")
    acked: dict[int, Any] = {}
    statuses: list[tuple[float, int]] = []
    server = server_factory(database)
    server.start()
    server.wait_ready()

    stop = asyncio.Event()
    load = asyncio.create_task(_load(server.base_url, log, 12, stop, acked, statuses))
    deadline = time.monotonic() + 20
    while len(acked) < 300:  # kill only once the load is really flowing
        assert time.monotonic() < deadline, server.output()
        await asyncio.sleep(0.02)
    server.signal(signal.SIGKILL)
    assert server.wait(timeout=10) == -signal.SIGKILL
    await asyncio.sleep(0.2)
    stop.set()
    await asyncio.wait_for(load, timeout=15)

    restarted = server_factory(database)
    restarted.start()
    restarted.wait_ready()
    async with httpx.AsyncClient(base_url=restarted.base_url, headers=WRITER, timeout=5.0) as http:
        records: dict[int, Any] = {}
        next_lsn = 1
        for _ in range(1000):
            r = await http.get(URL.format(log), params={"from_lsn": next_lsn, "limit": 1000})
            page = r.json()["records"]
            if not page:
                break
            records.update((rec["lsn"], rec["data"]) for rec in page)
            next_lsn = page[-1]["lsn"] + 1
        # appending after restart continues the sequence with no gap
        r = await http.post(URL.format(log), json="after-restart")
        assert r.json()["lsns"] == [next_lsn]

    assert len(acked) >= 300
    missing = [lsn for lsn in acked if records.get(lsn) != acked[lsn]]
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {missing[:5]}"
    assert sorted(records) == list(range(1, len(records) + 1)), "gap in stored LSNs"


async def test_sigterm_drains_then_stops(server_factory: Any, database: str) -> None:
    drain, bound = 1.5, 5
    log = unique_log("term")
    server = server_factory(database, DRAIN_SECONDS=str(drain), SHUTDOWN_TIMEOUT_SECONDS=str(bound))
    server.start()
    server.wait_ready()

    # An in-flight request whose body is only half sent when SIGTERM arrives; the rest
    # is sent after the listener has closed. It must still complete.
    body = b'[{"slow": 1}, {"slow": 2}]'
    slow = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    slow.sendall(
        f"POST {URL.format(log)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {WRITER_TOKEN}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body[:5]
    )

    acked: dict[int, Any] = {}
    statuses: list[tuple[float, int]] = []
    stop = asyncio.Event()
    load = asyncio.create_task(_load(server.base_url, log, 4, stop, acked, statuses))
    await asyncio.sleep(0.3)

    t0 = time.monotonic()
    server.signal(signal.SIGTERM)
    async with httpx.AsyncClient(base_url=server.base_url, headers=WRITER, timeout=2.0) as http:
        ready_503_at = None
        for _ in range(100):
            r = await http.get("/api/v1/ready")
            if r.status_code == 503:
                ready_503_at = time.monotonic() - t0
                assert "draining" in r.json()["reason"]
                break
            await asyncio.sleep(0.02)
        assert ready_503_at is not None and ready_503_at < 0.5
        # Still serving during the drain period, health still answers.
        await asyncio.sleep(0.5)
        r = await http.post(URL.format(log), json="during-drain")
        assert r.status_code == 201
        assert (await http.get("/api/v1/health")).status_code == 200

    # After the drain period the listener is closed.
    await asyncio.sleep(max(0.0, t0 + drain + 0.4 - time.monotonic()))
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()
    stop.set()
    await asyncio.wait_for(load, timeout=10)

    slow.sendall(body[5:])
    response = b""
    slow_deadline = time.monotonic() + 5
    while b"\r\n\r\n" not in response or not response.rstrip().endswith(b"}"):
        assert time.monotonic() < slow_deadline, response
        chunk = slow.recv(65536)
        if not chunk:
            break
        response += chunk
    slow.close()
    assert response.startswith(b"HTTP/1.1 201"), response
    assert b'"lsns"' in response

    code = await asyncio.to_thread(server.wait, drain + bound + 3)
    elapsed = time.monotonic() - t0
    assert code == 0, server.output()
    assert elapsed < drain + bound + 2
    assert "database pool closed" in server.output()
    ok_during_drain = [s for (t, s) in statuses if t0 < t < t0 + drain - 0.1]
    assert ok_during_drain and all(s == 201 for s in ok_during_drain)
    stored = dict(fetch_records(database, log))
    assert all(stored.get(lsn) == rec for lsn, rec in acked.items())


async def test_sigterm_bounds_stuck_requests(server_factory: Any, database: str) -> None:
    """A request that never finishes is cut off after SHUTDOWN_TIMEOUT_SECONDS; exit 0."""
    drain, bound = 0.5, 1
    server = server_factory(database, DRAIN_SECONDS=str(drain), SHUTDOWN_TIMEOUT_SECONDS=str(bound))
    server.start()
    server.wait_ready()
    stuck = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    stuck.sendall(
        f"POST {URL.format(unique_log())} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Bearer {WRITER_TOKEN}\r\nContent-Length: 100\r\n\r\n[1,".encode()
    )
    await asyncio.sleep(0.2)
    t0 = time.monotonic()
    server.signal(signal.SIGTERM)
    try:
        code = await asyncio.to_thread(server.wait, drain + bound + 5)
    finally:
        stuck.close()
    elapsed = time.monotonic() - t0
    assert code == 0, server.output()
    assert drain + bound - 0.2 < elapsed < drain + bound + 3, elapsed


def _run_with_env(**env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wal_service", "--host", "127.0.0.1"],
        env={**interpreter_env(), **env},
        capture_output=True,
        text=True,
        timeout=20,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("PORT", "70000"),
        ("LOG_LEVEL", "verbose"),
        ("DATABASE_SSLMODE", "sometimes"),
        ("DATABASE_PORT", ""),
        ("DRAIN_SECONDS", "-1"),
        ("SHUTDOWN_TIMEOUT_SECONDS", "nan"),
        ("MAX_BODY_BYTES", "0"),
        ("DATABASE_POOL_SIZE", "many"),
        ("APP_ENV", ""),
        ("MAX_JSON_DEPTH", "deep"),
        ("MAX_HEADER_BYTES", "10"),
        ("MAX_INFLIGHT_BYTES", "1"),
        ("MAX_CONNECTIONS", "100000000"),
        ("HEADER_READ_TIMEOUT_SECONDS", "-1"),
        ("BODY_READ_TIMEOUT_SECONDS", "nan"),
    ],
)
def test_bad_config_exits_with_one_line(name: str, value: str) -> None:
    result = _run_with_env(**{name: value, "UNRELATED_VARIABLE": "ignored"})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert name in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""
