"""Shared fixtures: one throw-away PostgreSQL database per test session.

Only 127.0.0.1 is touched. The server under test is either run in-process
(httpx ASGITransport + the app's lifespan) or as a real subprocess
(``python -m wal_service --host 127.0.0.1``) on a free loopback port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql

from wal_service.app import create_app
from wal_service.auth import key_line, parse_keys
from wal_service.config import Settings

PG_HOST = "127.0.0.1"
PG_PORT = int(os.environ.get("WAL_TEST_PGPORT", "5432"))
PG_USER = os.environ.get("WAL_TEST_PGUSER", "postgres")
PG_PASSWORD = os.environ.get("WAL_TEST_PGPASSWORD", "")
# The keys every server under test knows: a writer (the clients' default) and a reader.
WRITER_TOKEN = "test-writer-" + "w" * 32
READER_TOKEN = "test-reader-" + "r" * 32
KEYS_FILE_TEXT = "\n".join(
    [
        "# name:role:sha256 of the token",
        key_line("test-writer", "writer", WRITER_TOKEN),
        key_line("test-reader", "reader", READER_TOKEN),
        "",
    ]
)
TEST_KEYS = parse_keys(KEYS_FILE_TEXT)
WRITER = {"Authorization": f"Bearer {WRITER_TOKEN}"}
READER = {"Authorization": f"Bearer {READER_TOKEN}"}
# The code under test: this checkout's src/, never a copy installed into the virtualenv earlier.
SRC = Path(__file__).resolve().parents[1] / "src"


def interpreter_env() -> dict[str, str]:
    """Base environment of every ``python -m wal_service`` the tests start: PATH and this src/."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "PYTHONPATH": str(SRC)}
    # Under mutation testing (the repository's `make mutation`) the server runs the mutant too.
    for key in ("MUTANT_UNDER_TEST", "WAL_MUTATION_REACHED"):
        if key in os.environ:
            env[key] = os.environ[key]
    return env


def admin_connect(dbname: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=PG_HOST,
        port=PG_PORT,
        user=PG_USER,
        password=PG_PASSWORD,
        dbname=dbname,
        autocommit=True,
        connect_timeout=5,
    )


def create_database(prefix: str = "wal_test") -> str:
    name = f"{prefix}_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    with admin_connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name


def drop_database(name: str) -> None:
    with admin_connect() as conn:
        query = sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
        conn.execute(query.format(sql.Identifier(name)))


@pytest.fixture(scope="session")
def database() -> Iterator[str]:
    name = create_database()
    try:
        yield name
    finally:
        drop_database(name)


@pytest.fixture
def fresh_database() -> Iterator[str]:
    name = create_database("wal_test_fresh")
    try:
        yield name
    finally:
        drop_database(name)


@pytest.fixture(scope="session")
def base_settings(database: str) -> Settings:
    return Settings(
        app_env="test",
        database_host=PG_HOST,
        database_port=PG_PORT,
        database_name=database,
        database_user=PG_USER,
        database_password=PG_PASSWORD,
        database_sslmode="disable",
        database_pool_size=4,
        max_body_bytes=64 * 1024,
        api_keys=TEST_KEYS,
    )


def unique_log(prefix: str = "log") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


class InProcessApp:
    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self.state = self.app.state.wal
        self._lifespan: Any = None
        self.client: httpx.AsyncClient | None = None

    async def __aenter__(self) -> httpx.AsyncClient:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        deadline = time.monotonic() + 15
        while not self.state.schema_ready:
            assert time.monotonic() < deadline, "schema was not migrated in time"
            await asyncio.sleep(0.02)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url="http://wal.test", headers=WRITER
        )
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        assert self.client is not None
        await self.client.aclose()
        await self._lifespan.__aexit__(None, None, None)


@pytest.fixture
async def client(base_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with InProcessApp(base_settings) as c:
        yield c


@pytest.fixture
def make_app(base_settings: Settings) -> Any:
    def factory(**overrides: Any) -> InProcessApp:
        return InProcessApp(replace(base_settings, **overrides))

    return factory


# ------------------------------------------------------------------ real server process
def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class ServerProcess:
    """``python -m wal_service`` on a free loopback port, stdout captured to a file; it knows the
    test keys (``WRITER``, ``READER``) unless ``env`` says otherwise."""

    def __init__(self, database: str, log_dir: Path, **env: str) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        keys_file = log_dir / "api-keys"
        keys_file.write_text(KEYS_FILE_TEXT)
        self.env = {
            **interpreter_env(),
            "PORT": str(self.port),
            "DATABASE_HOST": PG_HOST,
            "DATABASE_PORT": str(PG_PORT),
            "DATABASE_NAME": database,
            "DATABASE_USER": PG_USER,
            "DATABASE_PASSWORD": PG_PASSWORD,
            "DATABASE_SSLMODE": "disable",
            "DATABASE_POOL_SIZE": "4",
            "LOG_LEVEL": "info",
            "API_KEYS_FILE": str(keys_file),
            **env,
        }
        if "PYTHONPATH" in os.environ:  # e.g. to run the suite against another checkout
            self.env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        self.log_path = log_dir / f"server-{self.port}-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, preexec_fn: Any = None) -> None:
        with open(self.log_path, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "wal_service", "--host", "127.0.0.1"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=preexec_fn,
            )

    def wait_ready(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited early:\n{self.output()}")
            try:
                r = httpx.get(f"{self.base_url}/api/v1/ready", timeout=1.0)
                if r.status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server not ready in {timeout}s:\n{self.output()}")

    def signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-5000:]
        except FileNotFoundError:
            return ""


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[Any]:
    started: list[ServerProcess] = []

    def factory(database: str, **env: str) -> ServerProcess:
        server = ServerProcess(database, tmp_path, **env)
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()


def fetch_records(database: str, log: str) -> list[tuple[int, Any]]:
    with admin_connect(database) as conn:
        cur = conn.execute(
            "SELECT lsn, payload FROM wal_records WHERE log = %s ORDER BY lsn", (log,)
        )
        return [(int(r[0]), r[1]) for r in cur.fetchall()]


# ------------------------------------------------- a PostgreSQL of our own to break
def _pg_bindir() -> Path | None:
    for candidate in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (candidate / "initdb").exists():
            return candidate
    return None


class ThrowawayCluster:
    """A private PostgreSQL cluster (initdb in a temp dir, its own loopback port) that
    outage tests may stop and restart without disturbing the shared server."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="wal-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_postgres: list[str] = []
        if os.geteuid() == 0:  # initdb refuses to run as root
            shutil.chown(self.root, "postgres")
            self.as_postgres = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        subprocess.run([*self.as_postgres, *args], check=True, capture_output=True, timeout=60)

    def init(self) -> None:
        self._run(
            str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"
        )

    def start(self) -> None:
        opts = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} -c fsync=off"
            " -c max_connections=50"
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            opts,
            "-w",
            "-t",
            "30",
            "-l",
            str(self.root / "log"),
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self) -> None:
        self.stop()
        self.start()

    def connect(self) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host=PG_HOST, port=self.port, user="postgres", dbname="postgres", autocommit=True
        )

    def destroy(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def throwaway_cluster() -> Iterator[ThrowawayCluster]:
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries (initdb) under /usr/lib/postgresql")
    cluster = ThrowawayCluster(bindir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture
def cluster(throwaway_cluster: ThrowawayCluster) -> ThrowawayCluster:
    """The throw-away cluster, started (a previous test may have stopped it)."""
    try:
        throwaway_cluster.connect().close()
    except psycopg.OperationalError:
        throwaway_cluster.start()
    return throwaway_cluster
