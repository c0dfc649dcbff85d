"""WAL Service benchmark: prints figures, asserts nothing.

Starts the real server (``python -m wal_service``) on a free loopback port against a
throw-away database on the local PostgreSQL and measures, in one run:

* process start -> first 200 from /api/v1/ready (fresh database, and a restart);
* for 1, 16 and 64 clients, single records and batches of 100: the service's
  appends/s on ONE log, next to pgbench running what the service runs per group
  commit of one append (the service's own append statement, a transaction by itself,
  one round trip) on the same PostgreSQL, both on one log row (what the
  service does) and with one row per client ("independent rows", no lock waits);
* the server's RSS: peak during the 64-client phases, and with 64 clients sending
  ~1 MiB batches (the default MAX_BODY_BYTES), then after that load;
* the server's CPU time per request in each phase, and what the API-key check costs:
  with ``--auth on`` (the default, as deployed) every request carries a writer token
  checked against a keys file of ``--keys`` keys; ``--auth off`` runs the server with
  AUTH=disabled. The difference between two runs is the check's cost per request; the
  check alone is also timed in-process.

The load generator is a minimal keep-alive HTTP/1.1 client on asyncio (one
connection per client) so that the client costs as little CPU as possible.

Usage (from the repo root, with the package installed):
    python app/bench/bench.py [--clients 1,16,64] [--seconds 5] [--pg-user postgres] [--auth on|off]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from wal_service.auth import Authenticator, key_line, parse_keys
from wal_service.store import APPEND_SQL

PGBENCH_CANDIDATES = [
    "pgbench",
    *sorted(map(str, Path("/usr/lib/postgresql").glob("*/bin/pgbench"))),
]


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


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (/proc/<pid>/stat, fields 14 and 15)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_keys(count: int) -> tuple[str, str]:
    """A keys file of `count` keys (the last one the benchmark's writer) and that writer's token."""
    tokens = [f"bench-{i}-{uuid.uuid4().hex}{uuid.uuid4().hex}" for i in range(count)]
    lines = [
        key_line(f"bench-{i}", "writer" if i % 2 else "reader", t) for i, t in enumerate(tokens)
    ]
    lines[-1] = key_line("bench-writer", "writer", tokens[-1])
    return "\n".join(lines) + "\n", tokens[-1]


def check_cost_us(keys_text: str, token: str, rounds: int = 100_000) -> float:
    """What the key check adds to a request, in-process: AuthMiddleware (header scan, SHA-256, one
    constant-time compare per key, the access log's key name) around a handler that does nothing,
    minus the same handler called directly. CPU time of this process, best of 5: other load on the
    machine counts least."""
    from wal_service.auth import AuthMiddleware
    from wal_service.metrics import Metrics

    async def handler(scope: Any, receive: Any, send: Any) -> None:
        return None

    middleware = AuthMiddleware(handler, Authenticator(parse_keys(keys_text)), Metrics())
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/api/v1/logs/bench/records",
        "headers": [
            (b"host", b"127.0.0.1"),
            (b"content-type", b"application/json"),
            (b"content-length", b"80"),
            (b"authorization", f"Bearer {token}".encode()),
        ],
    }

    async def per_call(app: Any) -> float:
        started = time.process_time()
        for _ in range(rounds):
            await app({**scope}, None, None)
        return (time.process_time() - started) / rounds

    async def measure() -> float:
        return min([await per_call(middleware) - await per_call(handler) for _ in range(5)])

    return asyncio.run(measure()) * 1e6


class RssSampler:
    """Peak resident set size of a process, sampled from /proc every 20 ms."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def rss_kb(self) -> int:
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        return int(match.group(1)) if match else 0

    def _run(self) -> None:
        while not self._stop.wait(0.02):
            self.peak_kb = max(self.peak_kb, self.rss_kb())

    def __enter__(self) -> RssSampler:
        self.peak_kb = self.rss_kb()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


async def client_loop(
    port: int,
    path: str,
    body: bytes,
    stop_at: float,
    latencies: list[float],
    errors: list[int],
    token: str | None,
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    authorization = f"Authorization: Bearer {token}\r\n" if token else ""
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"{authorization}Content-Length: {len(body)}\r\n\r\n"
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
        if status not in (200, 201):
            errors.append(status)
        if b"connection: close" in head.lower():
            break
    writer.close()
    await writer.wait_closed()


def records(batch: int, size: int = 64) -> list[dict[str, object]]:
    return [{"bench": True, "payload": "x" * size, "i": i} for i in range(batch)]


def body_for(batch: int, size: int = 64) -> bytes:
    recs = records(batch, size)
    return json.dumps(recs if batch > 1 else recs[0]).encode()


async def run_load(
    port: int,
    log: str,
    clients: int,
    seconds: float,
    body: bytes,
    token: str | None,
    pid: int,
    warmup: float = 0.5,
) -> dict[str, float]:
    path = f"/api/v1/logs/{log}/records"
    latencies: list[float] = []
    errors: list[int] = []
    await asyncio.gather(
        *(
            client_loop(port, path, body, time.perf_counter() + warmup, [], [], token)
            for _ in range(clients)
        )
    )
    started = time.perf_counter()
    cpu_before = cpu_seconds(pid)
    stop_at = started + seconds
    await asyncio.gather(
        *(client_loop(port, path, body, stop_at, latencies, errors, token) for _ in range(clients))
    )
    elapsed = time.perf_counter() - started
    cpu = cpu_seconds(pid) - cpu_before
    latencies.sort()
    q = (
        statistics.quantiles(latencies, n=100, method="inclusive")
        if len(latencies) > 1
        else [0.0] * 99
    )
    return {
        "per_s": len(latencies) / elapsed,
        "p50_ms": q[49] * 1000,
        "p99_ms": q[98] * 1000,
        "errors": len(errors),
        "requests": len(latencies),
        "cpu_us": cpu / max(len(latencies), 1) * 1e6,
    }


def pgbench_script(batch: int, independent: bool) -> str:
    """One group commit of one append, exactly as the service sends it: the service's
    own statement (wal_service.store.APPEND_SQL), a transaction by itself."""
    array = "[" + ",".join(json.dumps(r) for r in records(batch)) + "]"
    name = "'pgb-' || :client_id" if independent else "'pgb-one'"
    statement = (
        APPEND_SQL.strip()
        .replace("%(log)s", name)
        .replace("%(n)s", str(batch))
        .replace("%(records)s", "'" + array.replace("'", "''") + "'")
    )
    return statement + ";\n"


def run_pgbench(
    pgbench: str, args: argparse.Namespace, dbname: str, clients: int, batch: int, independent: bool
) -> float:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(pgbench_script(batch, independent))
        script = f.name
    try:
        cmd = [
            pgbench, "-n", "-M", "prepared", "-h", "127.0.0.1", "-p", str(args.pg_port),
            "-U", args.pg_user, "-c", str(clients), "-j", str(min(clients, 2)),
            "-T", str(max(1, round(args.seconds))), "-f", script, dbname,
        ]  # fmt: skip
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=args.seconds + 120)
        match = re.search(r"tps = ([\d.]+)", out.stdout)
        if out.returncode != 0 or not match:
            print(f"pgbench failed: {out.stderr.strip()[:500]}")
            return float("nan")
        return float(match.group(1))
    finally:
        os.unlink(script)


def machine() -> str:
    cpu = "?"
    try:
        lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        found = re.search(r"Model name:\s+(.+)", lscpu)
        cpu = found.group(1).strip() if found else cpu
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--clients", default="1,16,64", help="comma-separated client counts")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--pg-user", default=os.environ.get("WAL_TEST_PGUSER", "postgres"))
    parser.add_argument("--pg-port", type=int, default=5432)
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--no-pgbench", action="store_true", help="service figures only")
    parser.add_argument(
        "--auth",
        choices=("on", "off"),
        default="on",
        help="on: API keys checked, as deployed (default); off: the server runs with AUTH=disabled",
    )
    parser.add_argument(
        "--keys", type=int, default=4, help="keys in the server's keys file (--auth on)"
    )
    parser.add_argument(
        "--env", action="append", default=[], help="NAME=value for the server (repeatable)"
    )
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",")]
    pgbench = next((p for p in PGBENCH_CANDIDATES if shutil.which(p)), None)
    if args.no_pgbench:
        pgbench = None
    elif pgbench is None:
        print("pgbench not found: service figures only")

    dbname = f"wal_bench_{uuid.uuid4().hex[:10]}"
    admin = {"host": "127.0.0.1", "port": args.pg_port, "user": args.pg_user, "dbname": "postgres"}
    with psycopg.connect(**admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
        settings = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name IN "
                "('fsync', 'synchronous_commit', 'server_version', 'shared_buffers')"
            ).fetchall()
        )
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
    token: str | None = None
    keys_dir = tempfile.mkdtemp(prefix="wal-bench-")
    if args.auth == "on":
        keys_text, token = bench_keys(args.keys)
        keys_file = Path(keys_dir) / "api-keys"
        keys_file.write_text(keys_text)
        env["API_KEYS_FILE"] = str(keys_file)
        cost = check_cost_us(keys_text, token)
        auth_line = (
            f"auth on: {args.keys} keys in API_KEYS_FILE, every request carries a writer token; "
            f"the check alone costs {cost:.1f} us per request (in-process)"
        )
    else:
        env["AUTH"] = "disabled"
        auth_line = "auth off: AUTH=disabled, no key checked"
    env.update(item.split("=", 1) for item in args.env)
    print(f"machine: {machine()}")
    print(
        f"PostgreSQL {settings.get('server_version')} on 127.0.0.1:{args.pg_port}: "
        + ", ".join(f"{k}={v}" for k, v in sorted(settings.items()) if k != "server_version")
    )
    extra = " ".join(args.env) or "default limits"
    print(f"server: LOG_LEVEL={args.log_level}, {extra}; {args.seconds:g} s per phase")
    print(auth_line)
    proc = None
    try:
        proc, fresh = start_server(env)
        print(f"start -> ready (fresh database, runs migration): {fresh * 1000:.0f} ms")
        proc.terminate()
        proc.wait(timeout=30)
        proc, again = start_server(env)
        print(f"start -> ready (existing schema):                {again * 1000:.0f} ms")
        header = (
            f"{'clients':>7} {'batch':>5} | {'service/s':>9} {'p50 ms':>7} {'p99 ms':>7}"
            f" {'non-2xx':>7} {'CPU us/req':>10}"
            f" | {'pgbench 1 row':>13} {'ratio':>5} | {'pgbench indep.':>14} {'ratio':>5}"
        )
        print(header)
        print("-" * len(header))
        peak_64 = 0
        for clients in client_counts:
            for batch in (1, 100):
                with RssSampler(proc.pid) as rss:
                    res = asyncio.run(
                        run_load(
                            port,
                            f"bench-{clients}-{batch}",
                            clients,
                            args.seconds,
                            body_for(batch),
                            token,
                            proc.pid,
                        )
                    )
                if clients == 64:
                    peak_64 = max(peak_64, rss.peak_kb)
                line = (
                    f"{clients:>7} {batch:>5} | {res['per_s']:>9.0f} {res['p50_ms']:>7.1f}"
                    f" {res['p99_ms']:>7.1f} {res['errors']:>7} {res['cpu_us']:>10.0f}"
                )
                if pgbench:
                    one = run_pgbench(pgbench, args, dbname, clients, batch, independent=False)
                    ind = run_pgbench(pgbench, args, dbname, clients, batch, independent=True)
                    line += (
                        f" | {one:>13.0f} {res['per_s'] / one:>5.2f}"
                        f" | {ind:>14.0f} {res['per_s'] / ind:>5.2f}"
                    )
                print(line, flush=True)
        if peak_64:
            print(f"server RSS, peak during the 64-client phases above: {peak_64 / 1024:.0f} MB")
        # Large batches: ~1 MiB bodies (1000 records of ~1 KiB), 64 clients.
        big = body_for(1000, size=1000)
        with RssSampler(proc.pid) as rss:
            res = asyncio.run(
                run_load(port, "bench-big", 64, args.seconds, big, token, proc.pid, warmup=0.0)
            )
        time.sleep(1.0)
        after = rss.rss_kb()
        print(
            f"64 clients, {len(big) / 1048576:.2f} MiB batches: {res['per_s']:.0f} appends/s, "
            f"p99 {res['p99_ms']:.0f} ms, {res['errors']} non-2xx; server RSS peak "
            f"{rss.peak_kb / 1024:.0f} MB, 1 s after the load {after / 1024:.0f} MB"
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
        shutil.rmtree(keys_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
