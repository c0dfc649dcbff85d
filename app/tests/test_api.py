"""API behaviour, validation errors and idempotent retries (in-process app, real PostgreSQL)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from tests.conftest import WRITER, fetch_records, unique_log

URL = "/api/v1/logs/{}/records"


async def append(client: httpx.AsyncClient, log: str, body: Any, **headers: str) -> httpx.Response:
    return await client.post(URL.format(log), json=body, headers=headers)


async def test_append_single_and_batch_then_read(client: httpx.AsyncClient) -> None:
    log = unique_log()
    r = await append(client, log, {"n": 1})
    assert r.status_code == 201, r.text
    assert r.json() == {"log": log, "lsns": [1], "first_lsn": 1, "last_lsn": 1, "replayed": False}
    r = await append(client, log, [{"n": 2}, "three", 4, None, [5]])
    assert r.status_code == 201
    assert r.json()["lsns"] == [2, 3, 4, 5, 6]

    r = await client.get(URL.format(log))
    assert r.status_code == 200
    body = r.json()
    assert [rec["lsn"] for rec in body["records"]] == [1, 2, 3, 4, 5, 6]
    assert [rec["data"] for rec in body["records"]] == [{"n": 1}, {"n": 2}, "three", 4, None, [5]]
    assert body["next_from_lsn"] == 7

    r = await client.get(URL.format(log), params={"from_lsn": 3, "limit": 2})
    assert [rec["lsn"] for rec in r.json()["records"]] == [3, 4]
    assert r.json()["next_from_lsn"] == 5

    r = await client.get(URL.format(log), params={"from_lsn": 100})
    assert r.json() == {"log": log, "records": [], "next_from_lsn": 100}


async def test_logs_have_independent_lsns(client: httpx.AsyncClient) -> None:
    a, b = unique_log("a"), unique_log("b")
    assert (await append(client, a, [1, 2])).json()["lsns"] == [1, 2]
    assert (await append(client, b, 1)).json()["lsns"] == [1]
    assert (await append(client, a, 3)).json()["lsns"] == [3]


async def test_unknown_log_reads_empty(client: httpx.AsyncClient) -> None:
    r = await client.get(URL.format(unique_log()))
    assert r.status_code == 200
    assert r.json()["records"] == []


async def test_idempotent_retry_returns_original_lsns(
    client: httpx.AsyncClient, database: str
) -> None:
    log = unique_log()
    await append(client, log, "before")
    first = await append(client, log, [1, 2, 3], **{"Idempotency-Key": "req-1"})
    assert first.status_code == 201
    assert first.json()["lsns"] == [2, 3, 4]
    await append(client, log, "between")
    for _ in range(3):
        again = await append(client, log, [1, 2, 3], **{"Idempotency-Key": "req-1"})
        assert again.status_code == 200
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json()["lsns"] == [2, 3, 4]
        assert again.json()["replayed"] is True
    assert [lsn for lsn, _ in fetch_records(database, log)] == [1, 2, 3, 4, 5]

    # Same key with another body is a conflict and writes nothing.
    conflict = await append(client, log, [9], **{"Idempotency-Key": "req-1"})
    assert conflict.status_code == 409
    assert conflict.json()["error"]["code"] == "idempotency_key_conflict"
    # Keys are scoped per log.
    other = await append(client, unique_log(), [1, 2, 3], **{"Idempotency-Key": "req-1"})
    assert other.status_code == 201
    assert other.json()["lsns"] == [1, 2, 3]
    assert len(fetch_records(database, log)) == 5


async def test_concurrent_retries_with_same_key_write_once(
    client: httpx.AsyncClient, database: str
) -> None:
    log = unique_log()
    responses = await asyncio.gather(
        *(append(client, log, {"k": "v"}, **{"Idempotency-Key": "same"}) for _ in range(20))
    )
    assert {r.status_code for r in responses} <= {200, 201}
    assert sum(r.status_code == 201 for r in responses) == 1
    assert {tuple(r.json()["lsns"]) for r in responses} == {(1,)}
    assert fetch_records(database, log) == [(1, {"k": "v"})]


@pytest.mark.parametrize(
    ("first", "retry"), [(1, [1]), ([1], 1)], ids=["single-then-batch", "batch-then-single"]
)
async def test_single_and_batch_of_one_are_different_requests(
    client: httpx.AsyncClient, database: str, first: Any, retry: Any
) -> None:
    """`1` and `[1]` store one record alike, yet are two requests: a retry must not mix them."""
    log = unique_log()
    assert (await append(client, log, first, **{"Idempotency-Key": "shape"})).status_code == 201
    conflict = await append(client, log, retry, **{"Idempotency-Key": "shape"})
    assert conflict.status_code == 409, conflict.text
    assert conflict.json()["error"]["code"] == "idempotency_key_conflict"
    assert fetch_records(database, log) == [(1, 1)]


@pytest.mark.parametrize(
    ("log", "body", "headers", "status", "code"),
    [
        ("-leading-dash", b"1", {}, 400, "invalid_log_name"),
        ("x" * 129, b"1", {}, 400, "invalid_log_name"),
        ("has space", b"1", {}, 400, "invalid_log_name"),
        ("ok", b"{not json", {}, 400, "invalid_json"),
        ("ok", b"NaN", {}, 400, "invalid_json"),
        ("ok", b"", {}, 400, "empty_body"),
        ("ok", b"[]", {}, 400, "empty_batch"),
        ("ok", b'"\\u0000"', {}, 400, "invalid_record"),
        ("ok", b"[" + b"1," * 40_000 + b"1]", {}, 413, "body_too_large"),
        ("ok", b"1", {"Idempotency-Key": "a b"}, 400, "invalid_idempotency_key"),
    ],
)
async def test_bad_append_is_rejected_and_writes_nothing(
    client: httpx.AsyncClient,
    database: str,
    log: str,
    body: bytes,
    headers: dict[str, str],
    status: int,
    code: str,
) -> None:
    target = log if log != "ok" else unique_log()
    r = await client.post(URL.format(target), content=body, headers=headers)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert r.json()["error"]["message"]
    assert fetch_records(database, target) == []


async def test_body_too_large_without_content_length(client: httpx.AsyncClient) -> None:
    async def chunks() -> Any:
        for _ in range(100):
            yield b" " * 1024

    log = unique_log()
    r = await client.post(URL.format(log), content=chunks())
    assert r.status_code == 413


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"limit": "1001"}, {"limit": "ten"}, {"from_lsn": "-1"}, {"from_lsn": "x"}],
)
async def test_bad_read_params(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    r = await client.get(URL.format("ok"), params=params)
    assert r.status_code == 400
    assert r.json()["error"]["code"] in {"invalid_limit", "invalid_from_lsn"}


async def test_health_ready_metrics_and_request_id(client: httpx.AsyncClient) -> None:
    r = await client.get("/api/v1/health")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    assert len(r.headers["x-request-id"]) == 32
    r = await client.get("/api/v1/ready", headers={"X-Request-ID": "abc-123"})
    assert r.status_code == 200, r.text
    assert r.headers["x-request-id"] == "abc-123"
    await append(client, unique_log(), 1)
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert "wal_records_appended_total" in r.text
    assert 'wal_http_requests_total{method="POST",route="/api/v1/logs/{log}/records"' in r.text
    # Latency by the same labels: dashboards put the two side by side per route.
    assert (
        'wal_http_request_duration_seconds_count{method="POST",route="/api/v1/logs/{log}/records"}'
        in r.text
    )
    r = await client.get("/no/such/path")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.delete(URL.format("x"))
    assert r.status_code == 405


async def test_ready_is_503_while_draining(make_app: Any) -> None:
    inproc = make_app()
    async with inproc as c:
        assert (await c.get("/api/v1/ready")).status_code == 200
        inproc.state.start_draining()
        r = await c.get("/api/v1/ready")
        assert r.status_code == 503
        assert "draining" in r.json()["reason"]
        # still serving while draining
        assert (await append(c, unique_log(), 1)).status_code == 201


async def test_until_the_schema_is_in_place_requests_are_refused_with_503_saying_so(
    make_app: Any,
) -> None:
    """A pod whose migration has not finished (or waits for another's) must not touch the tables."""
    inproc = make_app()
    async with inproc as c:
        log = unique_log()
        inproc.state.schema_ready = False
        for r in (await append(c, log, 1), await c.get(URL.format(log))):
            assert r.status_code == 503
            assert r.json()["error"] == {
                "code": "not_ready",
                "message": "service is starting: database schema not ready yet",
            }
        inproc.state.schema_ready = True
        assert (await c.get(URL.format(log))).json()["records"] == [], (
            "the refused append wrote nothing"
        )


async def test_ready_is_503_when_database_unreachable(make_app: Any) -> None:
    from tests.conftest import free_port

    inproc = make_app(database_port=free_port())
    lifespan = inproc.app.router.lifespan_context(inproc.app)
    await lifespan.__aenter__()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=inproc.app),
            base_url="http://wal.test",
            headers=WRITER,
        ) as c:
            r = await c.get("/api/v1/ready")
            assert r.status_code == 503
            assert "database unreachable" in r.json()["reason"]
            r = await append(c, "x", 1)
            assert r.status_code == 503
    finally:
        await lifespan.__aexit__(None, None, None)


async def test_logs_are_json_lines_with_request_id(
    client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    import logging

    from wal_service.jsonlog import setup_logging

    setup_logging("info")
    try:
        await client.get("/api/v1/logs/x/records", headers={"X-Request-ID": "trace-42"})
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            root.removeHandler(handler)
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    access = [e for e in lines if e.get("logger") == "wal_service.access"]
    assert access and access[-1]["request_id"] == "trace-42"
    assert access[-1]["status"] == 200


async def test_read_page_is_cut_by_size(make_app: Any) -> None:
    inproc = make_app()
    async with inproc as c:
        log = unique_log()
        big = "x" * 15_000
        assert (await append(c, log, [big, big, big])).status_code == 201
        store = inproc.state.store
        # pg_column_size of a 15 kB (compressible) string is small; use a tiny cap.
        page = await store.read(log, 1, 100, max_bytes=1)
        assert [lsn for lsn, _ in page] == [1]  # always at least one record
        page = await store.read(log, 2, 100, max_bytes=10 << 20)
        assert [lsn for lsn, _ in page] == [2, 3]
        # A page never passes its cap for a second record: 15,002 bytes each (quotes included).
        page = await store.read(log, 1, 100, max_bytes=2 * 15_002 - 1)
        assert [lsn for lsn, _ in page] == [1]
        page = await store.read(log, 1, 100, max_bytes=2 * 15_002)
        assert [lsn for lsn, _ in page] == [1, 2]
