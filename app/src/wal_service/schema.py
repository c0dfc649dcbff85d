"""Schema creation and migration, safe when several replicas start at once.

Every migration runs inside one transaction holding a transaction-scoped advisory
lock, so concurrent starters serialise; each applied version is recorded in
``wal_schema_migrations`` and never applied twice.
"""

from __future__ import annotations

import logging

import psycopg
from psycopg.rows import TupleRow

log = logging.getLogger("wal_service.schema")

# Arbitrary constant identifying this service's migration lock.
MIGRATION_LOCK_KEY = 0x57414C5F53564331  # "WAL_SVC1"

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE wal_logs (
            name        text PRIMARY KEY,
            next_lsn    bigint NOT NULL DEFAULT 1 CHECK (next_lsn >= 1),
            created_at  timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE wal_records (
            log         text NOT NULL REFERENCES wal_logs (name),
            lsn         bigint NOT NULL CHECK (lsn >= 1),
            payload     jsonb NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (log, lsn)
        );
        CREATE TABLE wal_idempotency_keys (
            log         text NOT NULL REFERENCES wal_logs (name),
            key         text NOT NULL,
            fingerprint text NOT NULL,
            first_lsn   bigint NOT NULL,
            count       integer NOT NULL,
            created_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (log, key)
        );
        """,
    ),
    (
        2,
        # Records are kept as the exact text appended (jsonb re-encodes numbers and
        # whitespace). Rewrites wal_records once; older rows keep their jsonb text.
        "ALTER TABLE wal_records ALTER COLUMN payload TYPE json USING payload::json",
    ),
]

LATEST_VERSION = MIGRATIONS[-1][0]


async def migrate(conn: psycopg.AsyncConnection[TupleRow]) -> int:
    """Bring the schema to ``LATEST_VERSION``; return the number of migrations applied."""
    applied = 0
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK_KEY,))
        await conn.execute(
            """
            CREATE TABLE IF NOT EXISTS wal_schema_migrations (
                version    integer PRIMARY KEY,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """
        )
        cur = await conn.execute("SELECT coalesce(max(version), 0) FROM wal_schema_migrations")
        row = await cur.fetchone()
        current = int(row[0]) if row else 0
        for version, sql in MIGRATIONS:
            if version <= current:
                continue
            log.info("applying schema migration", extra={"version": version})
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO wal_schema_migrations (version) VALUES (%s)", (version,)
            )
            applied += 1
    return applied


async def schema_version(conn: psycopg.AsyncConnection[TupleRow]) -> int:
    """Return the applied schema version (0 when the schema does not exist)."""
    cur = await conn.execute("SELECT to_regclass('wal_schema_migrations') IS NOT NULL")
    row = await cur.fetchone()
    if not row or not row[0]:
        return 0
    cur = await conn.execute("SELECT coalesce(max(version), 0) FROM wal_schema_migrations")
    row = await cur.fetchone()
    return int(row[0]) if row else 0
