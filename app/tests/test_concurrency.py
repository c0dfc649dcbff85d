"""Many writers and readers on one log, across two "replicas" (two app instances with
their own connection pools) sharing the database: no gaps, no duplicates, readers
never skip a record, every acknowledged record is stored at its acknowledged LSN."""

from __future__ import annotations

import asyncio
import random
import time
from typing import Any

import httpx
import psycopg

from tests.conftest import PG_HOST, PG_PASSWORD, PG_PORT, PG_USER, fetch_records, unique_log
from wal_service.schema import LATEST_VERSION, migrate, schema_version

URL = "/api/v1/logs/{}/records"
WRITERS_PER_REPLICA = 8
APPENDS_PER_WRITER = 25
READERS = 4
DEADLINE_SECONDS = 60


async def test_many_writers_and_readers_one_log(make_app: Any, database: str) -> None:
    log = unique_log("hot")
    rng = random.Random(1234)
    plans = {
        (replica, w): [rng.randint(1, 5) for _ in range(APPENDS_PER_WRITER)]
        for replica in range(2)
        for w in range(WRITERS_PER_REPLICA)
    }
    total = sum(sum(sizes) for sizes in plans.values())
    acked: dict[int, dict[str, Any]] = {}
    deadline = time.monotonic() + DEADLINE_SECONDS
    writers_done = asyncio.Event()

    async def writer(client: httpx.AsyncClient, replica: int, w: int) -> None:
        for seq, size in enumerate(plans[(replica, w)]):
            assert time.monotonic() < deadline
            batch = [{"r": replica, "w": w, "s": seq, "i": i} for i in range(size)]
            r = await client.post(URL.format(log), json=batch if size > 1 else batch[0])
            assert r.status_code == 201, r.text
            lsns = r.json()["lsns"]
            assert lsns == list(range(lsns[0], lsns[0] + size))
            for lsn, rec in zip(lsns, batch, strict=True):
                assert lsn not in acked, f"LSN {lsn} acknowledged twice"
                acked[lsn] = rec

    async def reader(client: httpx.AsyncClient, limit: int) -> list[int]:
        seen: list[int] = []
        next_lsn = 1
        for _ in range(100_000):
            assert time.monotonic() < deadline, "reader did not catch up in time"
            r = await client.get(URL.format(log), params={"from_lsn": next_lsn, "limit": limit})
            assert r.status_code == 200
            lsns = [rec["lsn"] for rec in r.json()["records"]]
            # Never skip: the page starts exactly where the reader left off, gapless.
            assert lsns == list(range(next_lsn, next_lsn + len(lsns))), (next_lsn, lsns[:5])
            seen.extend(lsns)
            next_lsn += len(lsns)
            if writers_done.is_set() and next_lsn > total:
                return seen
            if not lsns:
                await asyncio.sleep(0.005)
        raise AssertionError("reader loop exhausted")

    async with make_app() as replica_a, make_app() as replica_b:
        replicas = [replica_a, replica_b]
        reader_tasks = [
            asyncio.create_task(reader(replicas[i % 2], limit=[7, 50, 200, 1000][i]))
            for i in range(READERS)
        ]
        await asyncio.gather(
            *(writer(replicas[rep], rep, w) for (rep, w) in plans),
        )
        writers_done.set()
        seen_by_readers = await asyncio.wait_for(asyncio.gather(*reader_tasks), timeout=30)

    assert sorted(acked) == list(range(1, total + 1)), "acknowledged LSNs have gaps/dupes"
    for seen in seen_by_readers:
        assert seen == list(range(1, total + 1))
    stored = fetch_records(database, log)
    assert [lsn for lsn, _ in stored] == list(range(1, total + 1))
    for lsn, payload in stored:
        assert payload == acked[lsn]
    # Per writer, its own appends got increasing LSNs (commit order == LSN order).
    for key in plans:
        mine = [lsn for lsn, rec in sorted(acked.items()) if (rec["r"], rec["w"]) == key]
        seqs = [acked[lsn]["s"] for lsn in mine]
        assert seqs == sorted(seqs)


async def connect_async(dbname: str) -> psycopg.AsyncConnection[Any]:
    return await psycopg.AsyncConnection.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        password=PG_PASSWORD,
        dbname=dbname,
        autocommit=True,
    )


async def test_concurrent_migrations_are_safe(fresh_database: str) -> None:
    async def one() -> int:
        async with await connect_async(fresh_database) as conn:
            return await migrate(conn)

    applied = await asyncio.wait_for(asyncio.gather(*(one() for _ in range(6))), timeout=30)
    assert sorted(applied) == [0] * 5 + [LATEST_VERSION]
    async with await connect_async(fresh_database) as conn:
        assert await schema_version(conn) == LATEST_VERSION
        assert await migrate(conn) == 0


async def append_behind_the_row_lock(
    client: httpx.AsyncClient, store: Any, database: str, log: str, bodies: list[Any]
) -> list[httpx.Response]:
    """Post ``bodies`` in order while another transaction (a replica) holds the log's row lock:
    the first waits in the blocked flush, the rest queue up behind it; then the lock goes."""
    from tests.conftest import admin_connect

    with admin_connect(database) as blocker:
        blocker.execute("BEGIN")
        blocker.execute("SELECT next_lsn FROM wal_logs WHERE name = %s FOR UPDATE", (log,))
        tasks = []
        for body in bodies:
            tasks.append(asyncio.create_task(client.post(URL.format(log), json=body)))
            await asyncio.sleep(0.02)  # deterministic arrival order
        deadline = time.monotonic() + 10
        while len(store._queues.get(log, [])) < len(bodies) - 1:
            assert time.monotonic() < deadline, "appends did not queue up"
            await asyncio.sleep(0.01)
        blocker.execute("COMMIT")
    return list(await asyncio.wait_for(asyncio.gather(*tasks), timeout=10))


async def test_group_commit_flushes_queued_appends_together(make_app: Any, database: str) -> None:
    """While another transaction (e.g. another replica) holds the log's row lock, appends
    queue up; once it commits they are written by ONE transaction, LSNs in queue order."""
    log = unique_log("gc")
    inproc = make_app()
    async with inproc as client:
        assert (await client.post(URL.format(log), json="first")).json()["lsns"] == [1]
        registry = inproc.state.metrics.registry
        store = inproc.state.store

        def flushes() -> float:
            return registry.get_sample_value("wal_group_commit_requests_count") or 0.0

        before = flushes()
        responses = await append_behind_the_row_lock(
            client, store, database, log, [{"i": i} for i in range(10)]
        )

    assert [r.json()["lsns"] for r in responses] == [[n] for n in range(2, 12)]
    assert flushes() - before == 2
    assert [p for _, p in fetch_records(database, log)] == ["first"] + [{"i": i} for i in range(10)]


async def test_a_flush_takes_queued_appends_up_to_its_record_limit_inclusive(
    make_app: Any, database: str, monkeypatch: Any
) -> None:
    """Appends that together fill a flush exactly go in one transaction; the next one waits."""
    from wal_service import store as store_module

    monkeypatch.setattr(store_module, "MAX_RECORDS_PER_FLUSH", 5)
    log = unique_log("limit")
    inproc = make_app()
    async with inproc as client:
        assert (await client.post(URL.format(log), json="first")).status_code == 201
        store = inproc.state.store
        batches: list[list[int]] = []
        commit = store._commit

        async def recording(log_name: str, batch: list[Any]) -> None:
            batches.append([len(item.payloads) for item in batch])
            await commit(log_name, batch)

        monkeypatch.setattr(store, "_commit", recording)
        bodies = ["blocked", ["a1", "a2", "a3"], ["b1", "b2"], "c"]
        responses = await append_behind_the_row_lock(client, store, database, log, bodies)

    assert all(r.status_code == 201 for r in responses)
    assert batches == [[1], [3, 2], [1]], "3 + 2 records fill the limit of 5 exactly: one flush"
