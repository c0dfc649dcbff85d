"""WAL Service benchmark: prints figures, asserts nothing.

Starts the real server (``python -m wal_service``) on a free loopback port against a
throw-away database on the local PostgreSQL, then measures:

* process start -> first 200 from /api/v1/ready (fresh database, and a restart);
* appends/s and p50/p99 latency with N concurrent clients on ONE log, for single
  records and for batches of 100 records.

The load generator is a minimal keep-alive HTTP/1.1 client on asyncio (one
connection per client) so that the client costs as little CPU as possible.

Usage (from the repo root, with the package installed):
    python app/bench/bench.py [--clients 16] [--seconds 5] [--pg-user postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid

import psycopg
from psycopg import sql


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], float]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "wal_service", "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{env['PORT']}/api/v1/ready"
    deadline = started + 30
    while time.perf_counter() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return proc, time.perf_counter() - started
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.005)
    proc.kill()
    raise SystemExit("server did not become ready in 30 s")


async def client_loop(
    port: int, path: str, body: bytes, stop_at: float, latencies: list[float], errors: list[int]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    for _ in range(10_000_000):
        if time.perf_counter() >= stop_at:
            break
        t = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
        latencies.append(time.perf_counter() - t)
        if status != 201:
            errors.append(status)
    writer.close()
    await writer.wait_closed()


async def run_load(
    port: int, log: str, clients: int, seconds: float, batch: int
) -> dict[str, float]:
    records = [{"bench": True, "payload": "x" * 64, "i": i} for i in range(batch)]
    body = json.dumps(records if batch > 1 else records[0]).encode()
    path = f"/api/v1/logs/{log}/records"
    latencies: list[float] = []
    errors: list[int] = []
    # warm-up
    await asyncio.gather(
        *(client_loop(port, path, body, time.perf_counter() + 0.5, [], []) for _ in range(clients))
    )
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(client_loop(port, path, body, stop_at, latencies, errors) for _ in range(clients))
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    q = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "requests_per_s": len(latencies) / elapsed,
        "records_per_s": len(latencies) * batch / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": len(errors),
        "requests": len(latencies),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pg-user", default=os.environ.get("WAL_TEST_PGUSER", "postgres"))
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args()

    dbname = f"wal_bench_{uuid.uuid4().hex[:10]}"
    admin = {"host": "127.0.0.1", "port": args.pg_port, "user": args.pg_user, "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PORT": str(port),
        "DATABASE_HOST": "127.0.0.1",
        "DATABASE_PORT": str(args.pg_port),
        "DATABASE_USER": args.pg_user,
        "DATABASE_NAME": dbname,
        "DATABASE_SSLMODE": "disable",
        "LOG_LEVEL": args.log_level,
        "DRAIN_SECONDS": "0",
    }
    if "PYTHONPATH" in os.environ:  # e.g. to benchmark another checkout of the package
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    proc = None
    try:
        proc, fresh = start_server(env)
        print(f"start -> ready (fresh database, runs migration): {fresh * 1000:.0f} ms")
        proc.terminate()
        proc.wait(timeout=30)
        proc, again = start_server(env)
        print(f"start -> ready (existing schema):                {again * 1000:.0f} ms")
        for batch in (1, 100):
            res = asyncio.run(run_load(port, f"bench-{batch}", args.clients, args.seconds, batch))
            print(
                f"{args.clients} clients, one log, batch={batch:<3}: "
                f"{res['requests_per_s']:8.0f} appends/s ({res['records_per_s']:8.0f} records/s), "
                f"p50 {res['p50_ms']:.1f} ms, p99 {res['p99_ms']:.1f} ms, "
                f"{res['requests']} requests, {res['errors']} non-201"
            )
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        with psycopg.connect(**admin, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )


if __name__ == "__main__":
    main()
