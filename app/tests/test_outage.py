"""Database outages and restarts, on a throw-away PostgreSQL cluster of our own.

The deadlines below are hang guards, not speed checks: each is well below the pool
timeout (10 s) that an append would wait for if it did not fail fast.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import PG_HOST, PG_PORT, ThrowawayCluster, unique_log
from wal_service import store

URL = "/api/v1/logs/{}/records"
HANG_GUARD_SECONDS = 6.0  # < the pool timeout an append used to wait for


async def _wait_for_status(client: httpx.AsyncClient, log: str, body: Any, status: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        r = await client.post(URL.format(log), json=body)
        if r.status_code == status:
            return
        assert time.monotonic() < deadline, f"still {r.status_code}: {r.text}"
        await asyncio.sleep(0.2)


async def test_appends_fail_fast_with_503_while_the_database_is_down(
    make_app: Any, cluster: ThrowawayCluster
) -> None:
    log = unique_log("outage")
    async with make_app(database_port=cluster.port, database_name="postgres") as client:
        assert (await client.post(URL.format(log), json={"before": 1})).status_code == 201
        cluster.stop("immediate")
        try:
            for i in range(5):
                r = await asyncio.wait_for(
                    client.post(URL.format(log), json={"during": i}), HANG_GUARD_SECONDS
                )
                assert r.status_code == 503, r.text
                assert r.json()["error"]["code"] == "database_unavailable"
            r = await asyncio.wait_for(client.get(URL.format(log)), HANG_GUARD_SECONDS)
            assert r.status_code == 503
            ready = await client.get("/api/v1/ready")
            assert ready.status_code == 503
            assert "database unreachable" in ready.json()["reason"]
        finally:
            cluster.start()
        # Recovers by itself once the database answers again; nothing was written.
        await _wait_for_status(client, log, {"after": 1}, 201)
        r = await client.get(URL.format(log))
        assert [rec["data"] for rec in r.json()["records"]] == [{"before": 1}, {"after": 1}]


async def test_no_append_fails_after_a_postgres_restart(
    make_app: Any, cluster: ThrowawayCluster
) -> None:
    """Every pooled connection is stale after the restart; none may cost an append."""
    log = unique_log("restart")
    async with make_app(
        database_port=cluster.port, database_name="postgres", database_pool_size=4
    ) as client:
        # Put several connections in the pool (concurrent reads on different logs).
        first = await asyncio.gather(
            *(client.post(URL.format(f"{log}-{i}"), json=i) for i in range(4))
        )
        assert {r.status_code for r in first} == {201}
        cluster.restart()
        for i in range(6):
            r = await client.post(URL.format(log), json={"after_restart": i})
            assert r.status_code == 201, r.text
        r = await client.get(URL.format(f"{log}-0"))
        assert r.status_code == 200 and r.json()["records"][0]["data"] == 0


class SilentableProxy:
    """A TCP proxy to PostgreSQL that can go silent, as a blackholed host does: bytes stop flowing
    and no connection is closed or refused. When the network is back, the connections that saw the
    outage are reset, as the kernel does once libpq's tcp_user_timeout expires (config.py)."""

    def __init__(self) -> None:
        self.outage = 0  # incremented when the network goes silent
        self.silent = False
        self.server: asyncio.Server | None = None
        self.connections: list[tuple[int, asyncio.StreamWriter, asyncio.StreamWriter]] = []
        self.closing = asyncio.Event()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        born = self.outage
        up_reader, up_writer = await asyncio.open_connection(PG_HOST, PG_PORT)
        self.connections.append((born, writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            while data := await src.read(65536):
                if self.silent or self.outage != born:
                    await self.closing.wait()  # swallowed, until the test ends
                    return
                dst.write(data)
                await dst.drain()

        await asyncio.gather(
            pipe(reader, up_writer), pipe(up_reader, writer), return_exceptions=True
        )

    def go_silent(self) -> None:
        self.silent = True
        self.outage += 1

    def restore(self) -> None:
        self.silent = False
        for born, *ends in self.connections:
            if born != self.outage:
                for end in ends:
                    end.transport.abort()

    async def close(self) -> None:
        assert self.server is not None
        self.closing.set()
        for _, *ends in self.connections:
            for end in ends:
                end.transport.abort()
        self.server.close()
        await self.server.wait_closed()
        await asyncio.sleep(0)  # lets the pipes see the end


async def test_a_database_that_stops_answering_fails_requests_instead_of_hanging(
    make_app: Any, monkeypatch: Any
) -> None:
    """A blackholed host keeps the pooled connections open without an error: appends and reads
    must still end (503) at the database deadline, and the service must recover by itself."""
    monkeypatch.setattr(store, "DATABASE_DEADLINE_SECONDS", 2.0)
    monkeypatch.setattr(store, "PROBE_TIMEOUT_SECONDS", 1.0)
    proxy = SilentableProxy()
    port = await proxy.start()
    log = unique_log("blackhole")
    try:
        async with make_app(database_host="127.0.0.1", database_port=port) as client:
            assert (await client.post(URL.format(log), json={"before": 1})).status_code == 201
            proxy.go_silent()
            first = await asyncio.wait_for(client.post(URL.format(log), json={"during": 0}), 30)
            assert first.status_code == 503, first.text
            assert "no answer from the database within 2 s" in first.text, first.text
            # The probe marks it down in the background: the next requests end within the guard too.
            for i in range(1, 4):
                r = await asyncio.wait_for(
                    client.post(URL.format(log), json={"during": i}), HANG_GUARD_SECONDS
                )
                assert r.status_code == 503, r.text
            r = await asyncio.wait_for(client.get(URL.format(log)), HANG_GUARD_SECONDS)
            assert r.status_code == 503, r.text
            proxy.restore()
            await _wait_for_status(client, log, {"after": 1}, 201)
            r = await client.get(URL.format(log))
            # What was refused never reached the database (this outage swallowed it for good).
            assert [rec["data"] for rec in r.json()["records"]] == [{"before": 1}, {"after": 1}]
    finally:
        await proxy.close()
