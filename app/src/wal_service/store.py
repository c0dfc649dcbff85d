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
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool

from .metrics import Metrics

log = logging.getLogger("wal_service.store")

# Upper bound on records written by one group-commit transaction. A single request
# is never split, so a flush can exceed this by at most one request.
MAX_RECORDS_PER_FLUSH = 5000


class StoreError(Exception):
    """The database could not be reached or the write failed; nothing acknowledged."""


class IdempotencyConflict(Exception):
    """The Idempotency-Key was already used on this log with a different body."""


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
    payloads: Sequence[str]
    idempotency_key: str | None
    fingerprint: str
    future: asyncio.Future[AppendResult] = field(repr=False)


def _consume_outcome(future: asyncio.Future[AppendResult]) -> None:
    if not future.cancelled():
        future.exception()


class Store:
    def __init__(self, pool: AsyncConnectionPool[AsyncConnection[TupleRow]], metrics: Metrics):
        self.pool = pool
        self.metrics = metrics
        self._queues: dict[str, list[_Pending]] = {}
        self._writers: dict[str, asyncio.Task[None]] = {}

    # ------------------------------------------------------------------ writes
    async def append(
        self,
        log_name: str,
        payloads: Sequence[str],
        idempotency_key: str | None,
        fingerprint: str,
    ) -> AppendResult:
        """Queue ``payloads`` (JSON texts) for the next group commit of ``log_name``."""
        loop = asyncio.get_running_loop()
        pending = _Pending(payloads, idempotency_key, fingerprint, loop.create_future())
        # If the request is abandoned (client gone, shutdown timeout), the outcome is still
        # set later: mark it retrieved so asyncio does not log "never retrieved".
        pending.future.add_done_callback(_consume_outcome)
        self._queues.setdefault(log_name, []).append(pending)
        if log_name not in self._writers:
            self._writers[log_name] = asyncio.create_task(
                self._writer(log_name), name=f"wal-writer:{log_name}"
            )
        # Shield: if the client goes away, the flush still completes for the others.
        return await asyncio.shield(pending.future)

    async def _writer(self, log_name: str) -> None:
        try:
            while True:
                queue = self._queues.get(log_name)
                if not queue:
                    break
                batch: list[_Pending] = []
                records = 0
                while queue and (
                    not batch or records + len(queue[0].payloads) <= MAX_RECORDS_PER_FLUSH
                ):
                    item = queue.pop(0)
                    batch.append(item)
                    records += len(item.payloads)
                try:
                    await self._flush(log_name, batch)
                except Exception as exc:  # noqa: BLE001 - every waiter must learn the outcome
                    log.error(
                        "group commit failed",
                        extra={"log": log_name, "error": repr(exc), "requests": len(batch)},
                    )
                    self.metrics.flush_errors.inc()
                    err = StoreError(f"database write failed: {type(exc).__name__}")
                    for item in batch:
                        if not item.future.done():
                            item.future.set_exception(err)
        finally:
            # No await between the empty-queue check and here: no append can slip in.
            self._writers.pop(log_name, None)
            if not self._queues.get(log_name):
                self._queues.pop(log_name, None)

    async def _flush(self, log_name: str, batch: list[_Pending]) -> None:
        started = time.perf_counter()
        outcomes: list[AppendResult | Exception] = []
        all_payloads: list[str] = []
        new_keys: list[tuple[str, str, int, int]] = []
        # Pipeline mode: the lock + idempotency lookup travel in one round trip, the
        # inserts + COMMIT in another. Leaving the pipeline block syncs and raises any
        # error, so nothing below runs unless COMMIT succeeded.
        async with self.pool.connection() as conn, conn.pipeline(), conn.transaction():
            lock_cur = await conn.execute(
                "INSERT INTO wal_logs (name) VALUES (%s) "
                "ON CONFLICT (name) DO UPDATE SET next_lsn = wal_logs.next_lsn "
                "RETURNING next_lsn",
                (log_name,),
            )
            keys = sorted({p.idempotency_key for p in batch if p.idempotency_key is not None})
            keys_cur = None
            if keys:
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
            if keys_cur is not None:
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

            if all_payloads:
                await conn.execute(
                    "INSERT INTO wal_records (log, lsn, payload) "
                    "SELECT %s, %s + t.ord - 1, t.p::jsonb "
                    "FROM unnest(%s::text[]) WITH ORDINALITY AS t(p, ord)",
                    (log_name, start_lsn, all_payloads),
                )
                await conn.execute(
                    "UPDATE wal_logs SET next_lsn = %s WHERE name = %s", (next_lsn, log_name)
                )
            if new_keys:
                await conn.execute(
                    "INSERT INTO wal_idempotency_keys (log, key, fingerprint, first_lsn, count) "
                    "SELECT %s, k, f, s, c "
                    "FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::int[]) AS t(k, f, s, c)",
                    (
                        log_name,
                        [k[0] for k in new_keys],
                        [k[1] for k in new_keys],
                        [k[2] for k in new_keys],
                        [k[3] for k in new_keys],
                    ),
                )
        # Leaving the transaction block committed it: results may now be acknowledged.
        self.metrics.flush_seconds.observe(time.perf_counter() - started)
        self.metrics.flush_requests.observe(len(batch))
        self.metrics.records_appended.inc(len(all_payloads))
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.future.done():
                continue
            if isinstance(outcome, Exception):
                item.future.set_exception(outcome)
            else:
                item.future.set_result(outcome)

    # ------------------------------------------------------------------- reads
    async def read(
        self, log_name: str, from_lsn: int, limit: int, max_bytes: int = 8 << 20
    ) -> list[tuple[int, Any]]:
        try:
            async with self.pool.connection() as conn:
                # Stop the page once ~max_bytes of (stored) payload have been collected;
                # the first record is always returned so that a reader makes progress.
                cur = await conn.execute(
                    "SELECT lsn, payload FROM ("
                    "  SELECT lsn, payload,"
                    "         sum(pg_column_size(payload)) OVER (ORDER BY lsn)"
                    "           - pg_column_size(payload) AS before"
                    "  FROM (SELECT lsn, payload FROM wal_records"
                    "        WHERE log = %s AND lsn >= %s ORDER BY lsn LIMIT %s) page"
                    ") sized WHERE before < %s ORDER BY lsn",
                    (log_name, from_lsn, limit, max_bytes),
                )
                return [(int(r[0]), r[1]) for r in await cur.fetchall()]
        except Exception as exc:
            log.error("read failed", extra={"log": log_name, "error": repr(exc)})
            raise StoreError(f"database read failed: {type(exc).__name__}") from exc

    async def wait_idle(self, timeout: float) -> None:
        """Wait for queued group commits to finish (used at shutdown)."""
        tasks = list(self._writers.values())
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
