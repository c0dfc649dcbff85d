"""Hostile request bodies against POST/GET /api/v1/logs/{log}/records (in-process app,
real PostgreSQL). The promises under test:

* a bad body is a 400 for its sender and nothing else: never a 500/503, never a failed
  append for another client sharing its group commit;
* whatever was acknowledged reads back exactly as sent (byte for byte), in a page that
  any strict JSON parser accepts.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import httpx
import orjson
import pytest

from tests.conftest import admin_connect, fetch_records, unique_log

URL = "/api/v1/logs/{}/records"
DEPTH = 64  # the default MAX_JSON_DEPTH


def nested(depth: int, open_: str = "[", close: str = "]") -> bytes:
    return (open_ * depth + "1" + close * depth).encode()


def nested_objects(depth: int) -> bytes:
    return ('{"a":' * depth + "1" + "}" * depth).encode()


async def post(client: httpx.AsyncClient, log: str, body: bytes) -> httpx.Response:
    return await client.post(
        URL.format(log), content=body, headers={"Content-Type": "application/json"}
    )


async def read_all(client: httpx.AsyncClient, log: str) -> tuple[bytes, list[Any]]:
    """The raw page and its records, parsed strictly (orjson refuses what is not JSON)."""
    r = await client.get(URL.format(log), params={"limit": 1000})
    assert r.status_code == 200, r.text
    return r.content, orjson.loads(r.content)["records"]


HOSTILE_BODIES: list[tuple[str, bytes, str]] = [
    ("number overflowing a double", b'{"a":1e400}', "invalid_json"),
    ("negative overflow", b"[1, -1e400]", "invalid_json"),
    ("400-digit integer", b"1" + b"0" * 400, "invalid_json"),
    ("escaped lone high surrogate", b'"\\ud800"', "invalid_json"),
    ("escaped lone low surrogate", b'{"k":"\\udc00"}', "invalid_json"),
    ("surrogates in the wrong order", b'"\\udc00\\ud800"', "invalid_json"),
    ("encoded surrogate (CESU)", b'"\xed\xa0\x80"', "invalid_json"),
    ("invalid UTF-8", b'"\xff\xfe"', "invalid_json"),
    ("overlong UTF-8 slash", b'"\xc0\xaf"', "invalid_json"),
    ("truncated UTF-8", b'"\xe2\x82"', "invalid_json"),
    ("UTF-8 byte order mark", b'\xef\xbb\xbf{"a":1}', "invalid_json"),
    ("NaN", b"NaN", "invalid_json"),
    ("-Infinity in a batch", b"[1, -Infinity]", "invalid_json"),
    ("raw control character", b'"a\x01b"', "invalid_json"),
    ("single quotes", b"{'a': 1}", "invalid_json"),
    ("trailing comma", b"[1, 2,]", "invalid_json"),
    ("comment", b"[1 /* c */]", "invalid_json"),
    ("two values", b'{"a":1} {"b":2}', "invalid_json"),
    ("leading zero", b"[01]", "invalid_json"),
    ("unterminated string", b'"abc', "invalid_json"),
    ("unbalanced nesting", b"[" * 200, "invalid_json"),
    ("arrays deeper than Python recurses", nested(5000), "too_deep"),
    ("unbalanced and deeper than orjson parses", b"[" * 5000, "too_deep"),
    ("arrays 970 deep", nested(970), "too_deep"),
    ("objects 970 deep", nested_objects(970), "too_deep"),
    ("objects just too deep", nested_objects(DEPTH + 1), "too_deep"),
    ("a batch element too deep", b"[1, " + nested(DEPTH + 1) + b"]", "too_deep"),
    ("escaped NUL", b'{"a":"x\\u0000y"}', "invalid_record"),
    ("escaped NUL after an escaped backslash", b'"\\\\\\u0000"', "invalid_record"),
    ("empty", b" \r\n\t", "empty_body"),
    ("empty batch", b" [ ] ", "empty_batch"),
]


@pytest.mark.parametrize(
    ("body", "code"), [(b, c) for _, b, c in HOSTILE_BODIES], ids=[n for n, _, _ in HOSTILE_BODIES]
)
async def test_hostile_body_is_a_400_and_writes_nothing(
    client: httpx.AsyncClient, database: str, body: bytes, code: str
) -> None:
    log = unique_log("hostile")
    r = await asyncio.wait_for(post(client, log, body), 10)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["code"] == code
    assert fetch_records(database, log) == []


ACCEPTED_VERBATIM: list[tuple[str, bytes]] = [
    ("precise number", b"12345678901234567890.123456789"),
    ("precise number in an object", b'{"n": 12345678901234567890.123456789, "e": 1E+2}'),
    ("big integer within a double", b"123456789012345678901234567890"),
    ("underflow is fine", b"1e-400"),
    ("escaped backslash then u0000", b'{"path":"C:\\\\u0000dir"}'),
    ("valid surrogate pair", b'"\\ud83d\\ude00 and \xf0\x9f\x98\x80"'),
    ("whitespace and key order kept", b'{ "b" : 1 ,\n "a" : [ 2 , 3 ] }'),
    ("duplicate keys kept", b'{"a":1,"a":2}'),
    ("object nesting at the limit", nested_objects(DEPTH)),
    ("batch element nesting at the limit", b"[" + nested(DEPTH) + b"]"),
    ("brackets inside strings do not nest", b'"' + b"[" * 1000 + b'"'),
    ("escaped quote before brackets", b'["\\"[[[", {"k": "]]]"}]'),
]


@pytest.mark.parametrize(
    "body", [b for _, b in ACCEPTED_VERBATIM], ids=[n for n, _ in ACCEPTED_VERBATIM]
)
async def test_accepted_record_reads_back_byte_for_byte(
    client: httpx.AsyncClient, body: bytes
) -> None:
    log = unique_log("verbatim")
    r = await post(client, log, body)
    assert r.status_code == 201, r.text
    n = len(r.json()["lsns"])
    raw, records = await read_all(client, log)
    assert len(records) == n
    if n == 1 and not body.lstrip().startswith(b"["):
        assert body in raw  # the exact bytes sent are in the page
        assert records[0]["data"] == orjson.loads(body)


async def test_batch_elements_are_stored_verbatim(client: httpx.AsyncClient, database: str) -> None:
    log = unique_log("verbatim-batch")
    elements = [b'{"x" : 1.50}', b"12345678901234567890.123456789", b'"\\u00e9"', b"[ ]"]
    r = await post(client, log, b"[ " + b" ,\n".join(elements) + b" ]")
    assert r.status_code == 201, r.text
    with admin_connect(database) as conn:
        texts = conn.execute(
            "SELECT payload::text FROM wal_records WHERE log = %s ORDER BY lsn", (log,)
        ).fetchall()
    assert [t[0].encode() for t in texts] == elements
    raw, _ = await read_all(client, log)
    assert b'"data":12345678901234567890.123456789}' in raw


async def test_a_bad_append_never_fails_the_others_in_its_group_commit(
    make_app: Any, database: str
) -> None:
    """Good and bad appends queued behind the same row lock, so that they share one
    flush: only the bad ones fail, with 400; the good ones are committed, gapless."""
    log = unique_log("shared-flush")
    inproc = make_app()
    async with inproc as client:
        assert (await post(client, log, b'"first"')).status_code == 201
        bodies = [b'{"good":0}', b'{"a":1e400}', b'{"good":1}', b'"\\ud800"', b'{"good":2}']
        bodies += [nested(970), b'{"good":3}', b'[{"good":4},{"bad":-1e999}]', b'{"good":5}']
        with admin_connect(database) as blocker:
            blocker.execute("BEGIN")
            blocker.execute("SELECT 1 FROM wal_logs WHERE name = %s FOR UPDATE", (log,))
            tasks = [asyncio.create_task(post(client, log, b)) for b in bodies]
            await asyncio.sleep(0.3)  # let every request reach the queue (or be refused)
            blocker.execute("COMMIT")
        responses = await asyncio.wait_for(asyncio.gather(*tasks), 20)
        statuses = [r.status_code for r in responses]
        good = [i for i, b in enumerate(bodies) if b.startswith(b'{"good"')]
        assert [statuses[i] for i in good] == [201] * len(good), [r.text for r in responses]
        assert all(s == 400 for i, s in enumerate(statuses) if i not in good), statuses
        _, records = await read_all(client, log)
    assert [rec["lsn"] for rec in records] == list(range(1, len(good) + 2))
    assert sorted(rec["data"]["good"] for rec in records[1:]) == [0, 1, 2, 3, 5]


async def test_store_isolates_a_record_the_database_refuses(make_app: Any, database: str) -> None:
    """Defence in depth below the HTTP checks: if PostgreSQL refuses one request's
    records, the group commit is retried request by request and only that one fails."""
    from wal_service.store import RecordRejected

    log = unique_log("isolate")
    inproc = make_app()
    async with inproc:
        store = inproc.state.store
        assert (await store.append(log, [b'"first"'], None, "fp0")).lsns == [1]
        with admin_connect(database) as blocker:
            blocker.execute("BEGIN")
            blocker.execute("SELECT 1 FROM wal_logs WHERE name = %s FOR UPDATE", (log,))
            payloads = [[b'{"ok":1}'], [b"{not json"], [b'{"ok":2}', b'{"ok":3}'], [b'{"ok":4}']]
            tasks = [
                asyncio.create_task(store.append(log, p, None, f"fp{i}"))
                for i, p in enumerate(payloads)
            ]
            await asyncio.sleep(0.2)
            blocker.execute("COMMIT")
        results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 20)
    assert isinstance(results[1], RecordRejected)
    assert [r.lsns for r in results if not isinstance(r, BaseException)] == [[2], [3, 4], [5]]
    assert [lsn for lsn, _ in fetch_records(database, log)] == [1, 2, 3, 4, 5]


async def test_a_record_too_deep_for_python_written_before_stays_readable(
    client: httpx.AsyncClient, database: str
) -> None:
    """A record acknowledged by an older version (no depth limit) must not poison the
    log: pages are served without parsing the stored text."""
    log = unique_log("poison")
    assert (await post(client, log, b'"before"')).status_code == 201
    deep = nested(970).decode()
    with admin_connect(database) as conn:
        conn.execute(
            "INSERT INTO wal_records (log, lsn, payload) VALUES (%s, 2, %s::json)", (log, deep)
        )
        conn.execute("UPDATE wal_logs SET next_lsn = 3 WHERE name = %s", (log,))
    assert (await post(client, log, b'"after"')).status_code == 201
    r = await client.get(URL.format(log))
    assert r.status_code == 200, r.text
    assert deep.encode() in r.content
    assert b'"data":"after"' in r.content


def _mutations(seed: int, count: int) -> list[bytes]:
    """Seeded random corruptions of valid records: flipped, dropped, duplicated bytes."""
    rng = random.Random(seed)
    seeds = [
        b'{"id": 1, "tags": ["a", "b"], "n": -12.5e3, "ok": true, "none": null}',
        b'[{"k": "\\u00e9\\ud83d\\ude00"}, 2, [3, [4]]]',
        b'"caf\xc3\xa9 \\\\ \\" \\n"',
    ]
    alphabet = b'[]{}",:\\u0123456789eE+-.tfn \x00\x7f\x80\xbf\xc3\xed\xff'
    out = []
    for _ in range(count):
        body = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(body))
            op = rng.randrange(3)
            if op == 0:
                body[pos] = rng.choice(alphabet)
            elif op == 1:
                del body[pos]
            else:
                body[pos:pos] = body[pos : pos + rng.randint(1, 8)]
        out.append(bytes(body))
    return out


async def test_fuzzed_bodies_are_201_or_400_and_what_is_accepted_reads_back(
    client: httpx.AsyncClient,
) -> None:
    log = unique_log("fuzz")
    deadline = time.monotonic() + 60
    accepted: list[bytes] = []
    for body in _mutations(seed=14, count=300):
        assert time.monotonic() < deadline
        r = await post(client, log, body)
        assert r.status_code in (201, 400), (body, r.status_code, r.text)
        if r.status_code == 201:
            accepted.append(body)
            # Only what a strict parser takes is accepted.
            orjson.loads(body)
        else:
            with pytest.raises((orjson.JSONDecodeError, AssertionError)):
                orjson.loads(body)
                assert b"\\u0000" in body  # the one valid-JSON refusal
    raw, records = await read_all(client, log)
    expected = []
    for body in accepted:
        parsed = json.loads(body)
        expected.extend(parsed if isinstance(parsed, list) else [parsed])
    assert [rec["data"] for rec in records] == [orjson.loads(json.dumps(e)) for e in expected]
