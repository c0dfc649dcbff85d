"""PostgreSQL storage with per-log group commit.

Concurrent appends to the same log inside one process are queued and flushed
together in ONE transaction. Inside that transaction the per-log row in
``wal_logs`` is locked (``INSERT ... ON CONFLICT DO UPDATE`` takes the row lock),
which serialises writers across replicas. LSNs are taken from ``next_lsn`` under
that lock, so they are gapless and increase in commit order: a transaction can
only obtain the lock after the previous holder has committed and become visible.
Each waiter is resolved only after COMMIT returned, i.e. after the records are
durable (``synchronous_commit`` is left at its default, ``on``).
"""

from __future__ import annotations

import asyncio
import logging
import select
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.adapt import Dumper
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .metrics import Metrics

log = logging.getLogger("wal_service.store")

# Upper bound on records written by one group-commit transaction. A single request
# is never split, so a flush can exceed these by at most one request.
MAX_RECORDS_PER_FLUSH = 5000
# ... and on the bytes of record text it sends (the joined array is one more copy).
MAX_BYTES_PER_FLUSH = 2 << 20
# Longest a writer waits for the requests its last flush answered to come back (and
# never more than half that flush's duration); see Store._writer.
GATHER_MAX_SECONDS = 0.002
# While the database is unreachable, how often a direct connection is attempted.
PROBE_INTERVAL_SECONDS = 0.5
PROBE_TIMEOUT_SECONDS = 5.0
# Longest one group commit or read page may take, the wait for a pooled connection (10 s at most)
# included. A database that stops answering (a blackholed host, a frozen server) keeps its
# connections open without an error: without a deadline every writer and reader waits forever.
DATABASE_DEADLINE_SECONDS = 15.0

# One group commit without idempotency keys, as one statement (so one transaction):
# take the log's row lock while advancing next_lsn by the number of records, insert
# them from there; the lock is held until the commit, as with BEGIN ... COMMIT.
# The records travel as one JSON array; json_array_elements yields each element's
# text as it is (and PostgreSQL checks it is JSON once more).
APPEND_SQL = """
WITH log AS (
    INSERT INTO wal_logs AS l (name, next_lsn) VALUES (%(log)s, 1 + %(n)s)
    ON CONFLICT (name) DO UPDATE SET next_lsn = l.next_lsn + %(n)s
    RETURNING next_lsn - %(n)s AS first_lsn
), inserted AS (
    INSERT INTO wal_records (log, lsn, payload)
    SELECT %(log)s, log.first_lsn + t.ord - 1, t.p
    FROM log, json_array_elements(%(records)s::json) WITH ORDINALITY AS t(p, ord)
)
SELECT first_lsn FROM log
"""


class StoreError(Exception):
    """The database could not be reached or the write failed; nothing acknowledged."""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used on this log with a different body."""


class RecordRejected(Exception):
    """PostgreSQL refused this request's records (a data error); nothing was written."""


class DatabaseTimeout(Exception):
    """The database did not answer within DATABASE_DEADLINE_SECONDS; the work was abandoned."""


class _StaleConnection(Exception):
    """The connection failed before COMMIT was sent: nothing can have been committed."""


def _connection_lost(exc: BaseException) -> bool:
    """A broken/refused connection, as opposed to an error the server reported.

    PoolTimeout (no connection in time: pool exhausted or database down) is not one:
    retrying it would only wait as long again."""
    if isinstance(exc, PoolTimeout):
        return False
    if not isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return False
    state = exc.sqlstate
    return state is None or state.startswith(("08", "57P"))


class JsonText:
    """A JSON text already encoded as UTF-8, sent as a ``json`` parameter as it is
    (no decoding to str and encoding back)."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data


class _JsonTextDumper(Dumper):
    oid = psycopg.adapters.types["json"].oid

    def dump(self, obj: JsonText) -> bytes:
        return obj.data


psycopg.adapters.register_dumper(JsonText, _JsonTextDumper)


def _json_array(texts: Sequence[bytes | memoryview]) -> JsonText:
    return JsonText(b"[" + b",".join(texts) + b"]")


def _closed_by_server(conn: AsyncConnection[TupleRow]) -> bool:
    """An idle connection has nothing to read unless the server closed it (or sent a
    FATAL before closing): a zero-round-trip staleness check before sending anything."""
    try:
        readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    except (OSError, ValueError, psycopg.Error):
        return True
    return bool(readable)


def _request_specific(exc: BaseException) -> bool:
    """A server-reported error that one request's data can cause (the txn rolled back)."""
    return isinstance(exc, psycopg.errors.DataError | psycopg.errors.ProgramLimitExceeded)


@dataclass(frozen=True)
class AppendResult:
    first_lsn: int
    count: int
    replayed: bool

    @property
    def lsns(self) -> list[int]:
        return list(range(self.first_lsn, self.first_lsn + self.count))


@dataclass
class _Pending:
    payloads: Sequence[bytes | memoryview]
    idempotency_key: str | None
    fingerprint: str
    future: asyncio.Future[AppendResult] = field(repr=False)
    size: int = 0  # bytes of record text


T = TypeVar("T")


def _consume_outcome(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()


class Store:
    def __init__(
        self,
        pool: AsyncConnectionPool[AsyncConnection[TupleRow]],
        metrics: Metrics,
        conninfo: Mapping[str, Any],
    ) -> None:
        self.pool = pool
        self.metrics = metrics
        self._conninfo = dict(conninfo)
        self._queues: dict[str, list[_Pending]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}
        # Writers waiting for their log's queue to reach a size: (size, waiter).
        self._gathering: dict[str, tuple[int, asyncio.Future[None]]] = {}
        # Set while the database is known to be unreachable: requests fail at once
        # (503) instead of each waiting for the pool timeout.
        self.database_down = False
        self._probe_task: asyncio.Task[None] | None = None
        # Work given up at its deadline and still being cancelled, and recoveries not awaited.
        self._abandoned: set[asyncio.Future[Any]] = set()
        self._recover_lock = asyncio.Lock()

    async def _within_deadline(self, work: Coroutine[Any, Any, T]) -> T:
        """Await ``work`` for at most DATABASE_DEADLINE_SECONDS. On expiry it is cancelled in the
        background: psycopg then asks the server to cancel the query and, when that is not answered
        either, closes the connection, seconds later (psycopg AsyncConnection.wait). Nobody waits
        for that."""
        task = asyncio.ensure_future(work)
        try:
            done, _ = await asyncio.wait({task}, timeout=DATABASE_DEADLINE_SECONDS)
        except asyncio.CancelledError:
            self._abandon(task)
            raise
        if not done:
            self._abandon(task)
            raise DatabaseTimeout(
                f"no answer from the database within {DATABASE_DEADLINE_SECONDS:g} s"
            )
        return task.result()

    def _abandon(self, task: asyncio.Future[Any]) -> None:
        task.cancel()
        self._in_background(task)

    def _recover_soon(self) -> None:
        """recover() without making the caller wait: it probes with a new connection and checks the
        pool's idle connections, which can take seconds against a silent server."""
        self._in_background(asyncio.ensure_future(self.recover()))

    def _in_background(self, task: asyncio.Future[Any]) -> None:
        """Keep ``task`` referenced (close() cancels it) until it ends; retrieve its outcome."""
        self._abandoned.add(task)
        task.add_done_callback(self._abandoned.discard)
        task.add_done_callback(_consume_outcome)

    def _fail_fast(self) -> None:
        if self.database_down:
            raise StoreError("database unavailable")

    # ------------------------------------------------------------------ writes
    async def append(
        self,
        log_name: str,
        payloads: Sequence[bytes | memoryview],
        idempotency_key: str | None,
        fingerprint: str,
    ) -> AppendResult:
        """Queue ``payloads`` (JSON texts, UTF-8) for the next group commit of ``log_name``."""
        self._fail_fast()
        loop = asyncio.get_running_loop()
        pending = _Pending(
            payloads,
            idempotency_key,
            fingerprint,
            loop.create_future(),
            sum(len(p) for p in payloads),
        )
        # If the request is abandoned (client gone, shutdown timeout), the outcome is still
        # set later: mark it retrieved so asyncio does not log "never retrieved".
        pending.future.add_done_callback(_consume_outcome)
        queue = self._queues.setdefault(log_name, [])
        queue.append(pending)
        gathering = self._gathering.get(log_name)
        if gathering is not None and len(queue) >= gathering[0] and not gathering[1].done():
            gathering[1].set_result(None)
        if log_name not in self._writers:
            self._writers[log_name] = asyncio.create_task(
                self._writer(log_name), name=f"wal-writer:{log_name}"
            )
        # Shield: if the client goes away, the flush still completes for the others.
        return await asyncio.shield(pending.future)

    async def _writer(self, log_name: str) -> None:
        # Requests that were in the system when the last flush ended (the ones it
        # answered + the ones queued meanwhile): in a steady load the answered ones come
        # straight back, so waiting briefly for them makes one flush of all instead of
        # two alternating half-size flushes, each costing a commit.
        expected = 0
        last_flush = 0.0
        loop = asyncio.get_running_loop()
        try:
            while True:
                queue = self._queues.get(log_name)
                if len(queue or ()) < expected:
                    await self._gather(log_name, expected, min(GATHER_MAX_SECONDS, last_flush / 2))
                    queue = self._queues.get(log_name)
                if not queue:
                    break
                batch: list[_Pending] = []
                records = size = 0
                while queue and (
                    not batch
                    or (
                        records + len(queue[0].payloads) <= MAX_RECORDS_PER_FLUSH
                        and size + queue[0].size <= MAX_BYTES_PER_FLUSH
                    )
                ):
                    item = queue.pop(0)
                    batch.append(item)
                    records += len(item.payloads)
                    size += item.size
                started = loop.time()
                await self._commit(log_name, batch)
                last_flush = loop.time() - started
                expected = len(batch) + len(self._queues.get(log_name) or ())
        finally:
            # No await between the empty-queue check and here: no append can slip in.
            self._writers.pop(log_name, None)
            if not self._queues.get(log_name):
                self._queues.pop(log_name, None)

    async def _gather(self, log_name: str, target: int, timeout: float) -> None:
        """Wait until ``target`` requests are queued for ``log_name``, at most ``timeout``."""
        waiter = asyncio.get_running_loop().create_future()
        self._gathering[log_name] = (target, waiter)
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError:
            pass
        finally:
            del self._gathering[log_name]

    async def _commit(self, log_name: str, batch: list[_Pending]) -> None:
        """Flush ``batch``; every waiter learns its outcome, whatever happens."""
        try:
            if self.database_down:
                raise StoreError("database unavailable")
            try:
                await self._within_deadline(self._flush(log_name, batch))
            except _StaleConnection:
                # e.g. PostgreSQL restarted since the connection was pooled: nothing was
                # committed, so one more try on a checked connection is safe.
                if not await self.recover():
                    raise
                await self._within_deadline(self._flush(log_name, batch))
        except Exception as exc:  # noqa: BLE001 - every waiter must learn the outcome
            cause = (exc.__cause__ or exc) if isinstance(exc, _StaleConnection) else exc
            if _request_specific(exc) and len(batch) > 1:
                # One request's records were refused and the transaction rolled back:
                # commit each request on its own so that only the culprit fails.
                for item in batch:
                    await self._commit(log_name, [item])
                return
            log.error(
                "group commit failed",
                extra={"log": log_name, "error": repr(cause), "requests": len(batch)},
            )
            self.metrics.flush_errors.inc()
            err: Exception
            if _request_specific(exc):
                err = RecordRejected(f"the database refused the records: {type(exc).__name__}")
            elif isinstance(cause, DatabaseTimeout):
                # The COMMIT may still happen: retrying is safe with the same Idempotency-Key.
                err = StoreError(f"database write failed: {cause}; the outcome is unknown")
            else:
                err = StoreError(f"database write failed: {type(cause).__name__}")
            for item in batch:
                if not item.future.done():
                    item.future.set_exception(err)
            if isinstance(cause, DatabaseTimeout):
                self._recover_soon()  # the log's next flush must not wait for it
            elif isinstance(cause, PoolTimeout) or _connection_lost(cause):
                await self.recover()  # marks the database down if it does not answer

    async def _flush(self, log_name: str, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        async with self.pool.connection() as conn:
            if _closed_by_server(conn):
                # e.g. PostgreSQL restarted while it sat in the pool: nothing sent yet.
                await conn.close()  # the pool drops a closed connection
                raise _StaleConnection("pooled connection was closed by the server")
            if any(item.idempotency_key is not None for item in batch):
                outcomes = await self._write_with_keys(conn, log_name, batch)
            else:
                outcomes = await self._write(conn, log_name, batch)
        # The transaction committed: results may now be acknowledged.
        self.metrics.flush_seconds.observe(time.perf_counter() - started)
        self.metrics.flush_requests.observe(len(batch))
        self.metrics.records_appended.inc(
            sum(o.count for o in outcomes if isinstance(o, AppendResult) and not o.replayed)
        )
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future.done():
                continue
            if isinstance(outcome, Exception):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)

    async def _write(
        self, conn: AsyncConnection[TupleRow], log_name: str, batch: list[_Pending]
    ) -> list[AppendResult | Exception]:
        """No idempotency keys: ONE statement, its own transaction (the pool's
        connections are in autocommit): one round trip, and execute() returns only
        once the implicit COMMIT is done."""
        payloads = [p for item in batch for p in item.payloads]
        params = {"log": log_name, "n": len(payloads), "records": _json_array(payloads)}
        cur = await conn.execute(APPEND_SQL, params)
        row = await cur.fetchone()
        assert row is not None
        outcomes: list[AppendResult | Exception] = []
        lsn: int = row[0]
        for item in batch:
            outcomes.append(AppendResult(lsn, len(item.payloads), replayed=False))
            lsn += len(item.payloads)
        return outcomes

    async def _write_with_keys(
        self, conn: AsyncConnection[TupleRow], log_name: str, batch: list[_Pending]
    ) -> list[AppendResult | Exception]:
        """With idempotency keys: the lock + key lookup travel in one round trip, the
        inserts + COMMIT in another (pipeline mode)."""
        outcomes: list[AppendResult | Exception] = []
        all_payloads: list[bytes | memoryview] = []
        new_keys: list[tuple[str, str, int, int]] = []
        commit_sent = False
        try:
            async with conn.pipeline(), conn.transaction():
                lock_cur = await conn.execute(
                    "INSERT INTO wal_logs (name) VALUES (%s) "
                    "ON CONFLICT (name) DO UPDATE SET next_lsn = wal_logs.next_lsn "
                    "RETURNING next_lsn",
                    (log_name,),
                )
                keys = sorted({p.idempotency_key for p in batch if p.idempotency_key is not None})
                # Runs after the row lock above is held (same transaction, in order).
                keys_cur = await conn.execute(
                    "SELECT key, fingerprint, first_lsn, count FROM wal_idempotency_keys "
                    "WHERE log = %s AND key = ANY(%s)",
                    (log_name, keys),
                )
                row = await lock_cur.fetchone()
                assert row is not None
                start_lsn: int = row[0]
                next_lsn = start_lsn
                known: dict[str, tuple[str, int, int]] = {}
                for key, fp, first, count in await keys_cur.fetchall():
                    known[key] = (fp, first, count)

                for item in batch:
                    key = item.idempotency_key
                    if key is not None and key in known:
                        fp, first, count = known[key]
                        if fp == item.fingerprint:
                            outcomes.append(AppendResult(first, count, replayed=True))
                        else:
                            outcomes.append(
                                IdempotencyConflict(
                                    "Idempotency-Key was already used with a different request body"
                                )
                            )
                        continue
                    count = len(item.payloads)
                    outcomes.append(AppendResult(next_lsn, count, replayed=False))
                    if key is not None:
                        known[key] = (item.fingerprint, next_lsn, count)
                        new_keys.append((key, item.fingerprint, next_lsn, count))
                    all_payloads.extend(item.payloads)
                    next_lsn += count

                # From here on the outcome of a lost connection is unknown.
                commit_sent = True
                if all_payloads:
                    await conn.execute(
                        "INSERT INTO wal_records (log, lsn, payload) "
                        "SELECT %s, %s + t.ord - 1, t.p "
                        "FROM json_array_elements(%s::json) WITH ORDINALITY AS t(p, ord)",
                        (log_name, start_lsn, _json_array(all_payloads)),
                    )
                    await conn.execute(
                        "UPDATE wal_logs SET next_lsn = %s WHERE name = %s", (next_lsn, log_name)
                    )
                if new_keys:
                    await conn.execute(
                        "INSERT INTO wal_idempotency_keys "
                        "(log, key, fingerprint, first_lsn, count) "
                        "SELECT %s, k, f, s, c FROM "
                        "unnest(%s::text[], %s::text[], %s::bigint[], %s::int[]) AS t(k, f, s, c)",
                        (
                            log_name,
                            [k[0] for k in new_keys],
                            [k[1] for k in new_keys],
                            [k[2] for k in new_keys],
                            [k[3] for k in new_keys],
                        ),
                    )
        except Exception as exc:
            if not commit_sent and _connection_lost(exc):
                raise _StaleConnection(str(exc)) from exc
            raise
        return outcomes

    # ------------------------------------------------------------------- reads
    async def read(
        self, log_name: str, from_lsn: int, limit: int, max_bytes: int
    ) -> list[tuple[int, str]]:
        """Records with lsn >= from_lsn as (lsn, the JSON text exactly as appended)."""
        self._fail_fast()
        for attempt in (1, 2):
            try:
                return await self._within_deadline(
                    self._read_page(log_name, from_lsn, limit, max_bytes)
                )
            except Exception as exc:
                # Reads change nothing: after a lost connection, retry once if the
                # database answers again.
                if attempt == 1 and _connection_lost(exc) and await self.recover():
                    continue
                if isinstance(exc, DatabaseTimeout):
                    self._recover_soon()  # marks it down: the next requests fail fast
                log.error("read failed", extra={"log": log_name, "error": repr(exc)})
                raise StoreError(f"database read failed: {type(exc).__name__}") from exc
        raise AssertionError("unreachable")

    async def _read_page(
        self, log_name: str, from_lsn: int, limit: int, max_bytes: int
    ) -> list[tuple[int, str]]:
        async with self.pool.connection() as conn:
            # At most max_bytes of payload text, except a first record larger than that,
            # which comes alone so that a reader makes progress.
            cur = await conn.execute(
                "SELECT lsn, payload FROM ("
                "  SELECT lsn, payload,"
                "         sum(octet_length(payload)) OVER (ORDER BY lsn)"
                "           - octet_length(payload) AS before"
                "  FROM (SELECT lsn, payload::text AS payload FROM wal_records"
                "        WHERE log = %s AND lsn >= %s ORDER BY lsn LIMIT %s) page"
                ") sized WHERE before = 0 OR before + octet_length(payload) <= %s ORDER BY lsn",
                (log_name, from_lsn, limit, max_bytes),
            )
            return [(int(r[0]), r[1]) for r in await cur.fetchall()]

    # ---------------------------------------------------------------- outages
    async def _probe(self) -> bool:
        """Does the database accept a new connection right now (bypassing the pool)?"""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT_SECONDS):
                conn = await psycopg.AsyncConnection.connect(**self._conninfo, autocommit=True)
                async with conn:
                    await conn.execute("SELECT 1")
            return True
        except Exception:  # noqa: BLE001 - any failure means "not reachable"
            return False

    async def recover(self) -> bool:
        """After a lost connection: True (stale pooled connections dropped) if the
        database answers; otherwise mark it down so that requests fail fast."""
        async with self._recover_lock:
            if self.database_down:
                return False
            if await self._probe():
                await self.pool.check()  # discards every stale idle connection at once
                return True
            self.database_down = True
            log.error("database unreachable: failing requests fast until it answers")
            self._probe_task = asyncio.create_task(self._probe_until_up(), name="wal-db-probe")
            return False

    async def _probe_until_up(self) -> None:
        while not await self._probe():
            await asyncio.sleep(PROBE_INTERVAL_SECONDS)
        await self.pool.check()
        self.database_down = False
        log.info("database reachable again")

    async def wait_idle(self, timeout: float) -> None:
        """Wait for queued group commits to finish (used at shutdown)."""
        tasks = list(self._writers.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    async def close(self) -> None:
        if self._probe_task is not None:
            self._probe_task.cancel()
            await asyncio.gather(self._probe_task, return_exceptions=True)
        for task in list(self._abandoned):
            task.cancel()
        if self._abandoned:
            await asyncio.wait(list(self._abandoned), timeout=1.0)
