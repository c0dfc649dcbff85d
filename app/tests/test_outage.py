"""Database outages and restarts, on a throw-away PostgreSQL cluster of our own.

The deadlines below are hang guards, not speed checks: each is well below the pool
timeout (10 s) that an append would wait for if it did not fail fast.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from tests.conftest import ThrowawayCluster, unique_log

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
