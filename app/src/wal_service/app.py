"""Starlette application: HTTP API, readiness, metrics, request-id + JSON access log."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import orjson
from psycopg import AsyncConnection
from psycopg.rows import TupleRow
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from . import __version__
from .auth import REASONS, SCOPE_KEY, Authenticator, AuthMiddleware
from .config import Settings
from .jsonlog import request_id_var
from .metrics import CONTENT_TYPE_LATEST, Metrics
from .records import InvalidBody, parse_records
from .schema import LATEST_VERSION, migrate, schema_version
from .store import IdempotencyConflict, RecordRejected, Store, StoreError

log = logging.getLogger("wal_service.app")
access_log = logging.getLogger("wal_service.access")

LOG_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
MAX_READ_LIMIT = 1000
DEFAULT_READ_LIMIT = 100
READY_TIMEOUT_SECONDS = 2.0
# Access-log/metrics status of a request whose client went away before its body was
# complete (no response can be sent; nginx's convention).
CLIENT_CLOSED_REQUEST = 499


class ByteBudget:
    """Bytes of request and response bodies this process holds at once (MAX_INFLIGHT_BYTES).

    An append reserves its declared size before its body is read, a read reserves its
    page (MAX_BODY_BYTES) before it queries; each keeps it until its response is ready,
    so memory stays bounded however many large batches and pages are in flight; the
    others wait their turn (first come, first served)."""

    def __init__(self, capacity: int, metrics: Metrics) -> None:
        self.capacity = capacity
        self.available = capacity
        metrics.inflight_bytes.set_function(lambda: self.capacity - self.available)
        self._waiters: collections.deque[tuple[int, asyncio.Future[None]]] = collections.deque()

    async def acquire(self, amount: int) -> None:
        if not self._waiters and amount <= self.available:
            self._take(amount)
            return
        waiter = asyncio.get_running_loop().create_future()
        entry = (amount, waiter)
        self._waiters.append(entry)
        try:
            await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release(amount)  # granted just as we were cancelled
            else:
                self._waiters.remove(entry)
                self._wake()
            raise

    def release(self, amount: int) -> None:
        self.available += amount
        self._wake()

    def _take(self, amount: int) -> None:
        self.available -= amount

    def _wake(self) -> None:
        while self._waiters and self._waiters[0][0] <= self.available:
            amount, waiter = self._waiters.popleft()
            self._take(amount)
            waiter.set_result(None)


class ServiceState:
    """Mutable process state shared by the routes and the entry point."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.metrics = Metrics()
        self.budget = ByteBudget(settings.max_inflight_bytes, self.metrics)
        for reason in REASONS:
            self.metrics.auth_failures.labels(reason)
        self.authenticator = None if settings.auth_disabled else Authenticator(settings.api_keys)
        self.draining = False
        self.schema_ready = False
        self.pool: AsyncConnectionPool[AsyncConnection[TupleRow]] | None = None
        self.store: Store | None = None
        self.migration_task: asyncio.Task[None] | None = None

    def start_draining(self) -> None:
        self.draining = True
        self.metrics.draining.set(1)
        self.metrics.ready.set(0)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class OrjsonResponse(JSONResponse):
    """JSONResponse rendered by orjson (the append route's hot path)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.wal
    return state


def _store(request: Request) -> Store:
    store = _state(request).store
    if store is None or not _state(request).schema_ready:
        raise ApiError(503, "not_ready", "service is starting: database schema not ready yet")
    return store


def _log_name(request: Request) -> str:
    name: str = request.path_params["log"]
    if not LOG_NAME_RE.fullmatch(name):
        raise ApiError(
            400,
            "invalid_log_name",
            "log name must be 1-128 characters of A-Z a-z 0-9 . _ - "
            "and start with a letter or digit",
        )
    return name


def _declared_length(request: Request, limit: int) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None:
        return None
    try:
        length = int(declared)
    except ValueError:
        raise ApiError(400, "invalid_content_length", "Content-Length is not a number") from None
    if length > limit:
        raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")
    return length


async def _read_body(request: Request, limit: int, timeout: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(
            408, "body_timeout", f"request body not received within {timeout:g} s"
        ) from None
    return b"".join(chunks)


def _query_int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw, 10)
    except ValueError:
        raise ApiError(400, f"invalid_{name}", f"{name} must be an integer") from None
    if not low <= value <= high:
        raise ApiError(400, f"invalid_{name}", f"{name} must be between {low} and {high}")
    return value


# ---------------------------------------------------------------------------- routes
async def append_records(request: Request) -> Response:
    state = _state(request)
    log_name = _log_name(request)
    key = request.headers.get("idempotency-key")
    if key is not None and not IDEMPOTENCY_KEY_RE.fullmatch(key):
        raise ApiError(
            400, "invalid_idempotency_key", "Idempotency-Key must be 1-255 printable ASCII chars"
        )
    settings = state.settings
    declared = _declared_length(request, settings.max_body_bytes)
    reserved = settings.max_body_bytes if declared is None else declared
    await _reserve(state, reserved)
    try:
        body = await _read_body(
            request, settings.max_body_bytes, settings.body_read_timeout_seconds
        )
        try:
            batch, texts = parse_records(body, settings.max_json_depth)
        except InvalidBody as exc:
            raise ApiError(400, exc.code, exc.message) from None
        del body
        digest = hashlib.sha256(b"batch\n" if batch else b"single\n")
        for t in texts:
            digest.update(t)
            digest.update(b"\n")
        store = _store(request)
        try:
            result = await store.append(log_name, texts, key, digest.hexdigest())
        except IdempotencyConflict as exc:
            raise ApiError(409, "idempotency_key_conflict", str(exc)) from None
        except RecordRejected as exc:
            raise ApiError(400, "invalid_record", str(exc)) from None
        except StoreError as exc:
            raise ApiError(503, "database_unavailable", str(exc)) from None
    finally:
        state.budget.release(reserved)
    lsns = result.lsns
    payload = {
        "log": log_name,
        "lsns": lsns,
        "first_lsn": lsns[0],
        "last_lsn": lsns[-1],
        "replayed": result.replayed,
    }
    if result.replayed:
        return OrjsonResponse(payload, status_code=200, headers={"Idempotent-Replayed": "true"})
    return OrjsonResponse(payload, status_code=201)


async def _reserve(state: ServiceState, amount: int) -> None:
    """Wait for room in MAX_INFLIGHT_BYTES, at most BODY_READ_TIMEOUT_SECONDS."""
    try:
        async with asyncio.timeout(state.settings.body_read_timeout_seconds):
            await state.budget.acquire(amount)
    except TimeoutError:
        raise ApiError(
            503, "overloaded", "too many bodies in flight (MAX_INFLIGHT_BYTES)"
        ) from None


async def read_records(request: Request) -> Response:
    state = _state(request)
    log_name = _log_name(request)
    from_lsn = _query_int(request, "from_lsn", 1, 0, 2**62)
    limit = _query_int(request, "limit", DEFAULT_READ_LIMIT, 1, MAX_READ_LIMIT)
    store = _store(request)
    # A page is at most one body's worth of record text, or one record when the first is
    # longer (written under a larger MAX_BODY_BYTES, or as jsonb before migration 2).
    page = state.settings.max_body_bytes
    await _reserve(state, page)
    try:
        try:
            rows = await store.read(log_name, from_lsn, limit, max_bytes=page)
        except StoreError as exc:
            raise ApiError(503, "database_unavailable", str(exc)) from None
        next_from = rows[-1][0] + 1 if rows else max(from_lsn, 1)
        # The stored texts are valid JSON: spliced in as they are, never re-parsed (so that
        # numbers keep every digit and no record, however nested, can break a page).
        records = ",".join(f'{{"lsn":{lsn},"data":{text}}}' for lsn, text in rows)
        del rows
        body = f'{{"log":"{log_name}","records":[{records}],"next_from_lsn":{next_from}}}'
        return Response(body.encode(), media_type="application/json")
    finally:
        state.budget.release(page)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


async def ready(request: Request) -> Response:
    state = _state(request)
    reason = await _not_ready_reason(state)
    state.metrics.ready.set(0 if reason else 1)
    if reason:
        return JSONResponse({"status": "not_ready", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ready"})


async def _not_ready_reason(state: ServiceState) -> str | None:
    if state.draining:
        return "draining: shutdown in progress"
    if state.pool is None or state.store is None:
        return "database pool not started"
    if state.store.database_down:
        return "database unreachable: failing requests fast until it answers"
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS):
            async with state.pool.connection(timeout=READY_TIMEOUT_SECONDS) as conn:
                version = await schema_version(conn)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return f"database unreachable: {type(exc).__name__}"
    if version < LATEST_VERSION:
        return f"database schema not in place (version {version}, need {LATEST_VERSION})"
    if not state.schema_ready:
        state.schema_ready = True  # another replica migrated it
    if state.draining:
        return "draining: shutdown in progress"
    return None


async def metrics(request: Request) -> Response:
    return Response(_state(request).metrics.render(), media_type=CONTENT_TYPE_LATEST)


# ------------------------------------------------------------------------ middleware
def _route_label(path: str) -> str:
    if path.startswith("/api/v1/logs/") and path.endswith("/records"):
        return "/api/v1/logs/{log}/records"
    if path in ("/api/v1/health", "/api/v1/ready", "/metrics"):
        return path
    return "other"


_QUIET_ROUTES = frozenset({"/api/v1/health", "/api/v1/ready", "/metrics"})


class RequestContextMiddleware:
    """Request id, JSON access log, HTTP metrics, JSON 500s and ApiError rendering."""

    def __init__(self, app: ASGIApp, state: ServiceState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        if not incoming or not REQUEST_ID_RE.fullmatch(incoming):
            incoming = uuid.uuid4().hex
        request_id = incoming
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status = 500
        response_started = False
        metrics = self.state.metrics
        route = _route_label(scope["path"])
        metrics.in_flight.inc()

        request_headers = dict(scope["headers"])
        body_pending = (
            request_headers.get(b"content-length", b"0") != b"0"
            or b"transfer-encoding" in request_headers
        )

        async def receive_wrapper() -> Message:
            nonlocal body_pending
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_pending = False
            return message

        async def send_wrapper(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                if self.state.draining or body_pending:
                    # Draining: keep-alive clients must reconnect (to another replica) rather
                    # than race the listener that closes at the end of the drain. Answered
                    # before its body was read (401, 403, 413...): the server closes the
                    # connection (protocol.py), and a client or proxy that reused it would
                    # send its next request into a reset.
                    headers.append((b"connection", b"close"))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive_wrapper, send_wrapper)
        except ClientDisconnect:
            # Nothing to answer and nothing wrong with the service.
            if not response_started:
                status = CLIENT_CLOSED_REQUEST
            log.info("client disconnected before the request body was complete")
        except Exception:
            log.exception("unhandled error")
            if not response_started:
                await error_response(500, "internal_error", "internal server error")(
                    scope, receive, send_wrapper
                )
        finally:
            elapsed = time.perf_counter() - started
            metrics.in_flight.dec()
            metrics.requests.labels(scope["method"], route, str(status)).inc()
            metrics.request_seconds.labels(scope["method"], route).observe(elapsed)
            level = logging.DEBUG if scope["path"] in _QUIET_ROUTES else logging.INFO
            if access_log.isEnabledFor(level):
                access_log.log(
                    level,
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        # The key's name and any refusal reason (AuthMiddleware), never the token.
                        **scope.get(SCOPE_KEY, {}),
                    },
                )
            request_id_var.reset(token)


async def _api_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message)


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail))


# ---------------------------------------------------------------------------- lifecycle
async def _migrate_until_done(state: ServiceState) -> None:
    assert state.pool is not None
    delay = 0.2
    while True:
        try:
            async with state.pool.connection(timeout=10) as conn:
                applied = await migrate(conn)
            state.schema_ready = True
            log.info("database schema ready", extra={"applied_migrations": applied})
            return
        except Exception as exc:  # noqa: BLE001 - retried until it works
            log.warning("schema migration failed, retrying", extra={"error": repr(exc)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)


def create_app(settings: Settings) -> Starlette:
    state = ServiceState(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        size = settings.database_pool_size
        pool: AsyncConnectionPool[AsyncConnection[TupleRow]] = AsyncConnectionPool(
            conninfo="",
            kwargs={**settings.conninfo_kwargs(), "autocommit": True},
            min_size=min(2, size),
            max_size=size,
            open=False,
            timeout=10,
            # Give up a failing reconnection early: after an outage the pool then grows
            # again at once instead of after an ever longer backoff.
            reconnect_timeout=5,
            name="wal",
        )
        await pool.open(wait=False)
        state.pool = pool
        state.store = Store(pool, state.metrics, settings.conninfo_kwargs())
        state.migration_task = asyncio.create_task(_migrate_until_done(state))
        log.info(
            "service started",
            extra={
                "app_env": settings.app_env,
                "version": __version__,
                "event_loop": type(asyncio.get_running_loop()).__module__,
                "api_keys": [f"{key.name}:{key.role}" for key in settings.api_keys],
            },
        )
        if settings.auth_disabled:
            log.warning(
                "authentication disabled (AUTH=disabled): anyone who reaches the service may read "
                "and append to every log; for local runs and benchmarks only"
            )
        try:
            yield
        finally:
            state.migration_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await state.migration_task
            # In-flight requests were already given SHUTDOWN_TIMEOUT_SECONDS by the server;
            # only flushes of abandoned requests can remain: bound the rest tightly.
            await state.store.wait_idle(timeout=1.0)
            await state.store.close()
            await pool.close(timeout=1.0)
            log.info("database pool closed")

    app = Starlette(
        routes=[
            Route("/api/v1/logs/{log}/records", append_records, methods=["POST"]),
            Route("/api/v1/logs/{log}/records", read_records, methods=["GET"]),
            Route("/api/v1/health", health, methods=["GET"]),
            Route("/api/v1/ready", ready, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={ApiError: _api_error_handler, HTTPException: _http_error_handler},
        middleware=[
            Middleware(RequestContextMiddleware, state=state),
            # Inside the request context: refusals are access-logged and counted like any response.
            Middleware(AuthMiddleware, authenticator=state.authenticator, metrics=state.metrics),
        ],
        lifespan=lifespan,
    )
    app.state.wal = state
    return app


def app_from_env() -> Starlette:
    """ASGI factory for ``uvicorn --factory wal_service.app:app_from_env`` (development).

    Production uses ``python -m wal_service``, which adds drain-then-stop on SIGTERM.
    """
    import os
    import sys

    from .config import ConfigError
    from .jsonlog import setup_logging

    try:
        settings = Settings.from_env(os.environ)
    except ConfigError as exc:
        print(f"wal-service: configuration error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    setup_logging(settings.log_level)
    return create_app(settings)
