"""Request body -> the verbatim JSON text of each record, or a 400 reason.

Records are stored as the exact text the client sent (PostgreSQL ``json``, not
``jsonb``), so nothing is re-serialised: big numbers keep every digit. A body is
refused when a reader could not take it back: not UTF-8 (including encoded
surrogates), escaped lone surrogates, NaN/Infinity, numbers that overflow a double
(RFC 8259 interoperability; ``orjson`` refuses them), nesting deeper than
MAX_JSON_DEPTH, or an escaped NUL (``\\u0000``, kept out so that records can
always be converted to ``jsonb``).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson

MAX_BATCH_RECORDS = 10_000

_JSON_WS = b" \t\r\n"
# Each element of a top-level array as the raw bytes the client sent.
_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])
# \u0000 as an escape, i.e. preceded by an even number of backslashes (`\\u0000` is a
# backslash followed by the text "u0000", which is fine).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


class InvalidBody(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def nesting_exceeds(value: Any, limit: int) -> bool:
    """True when arrays/objects in the parsed ``value`` nest deeper than ``limit``."""
    level = [value] if type(value) is dict or type(value) is list else []
    depth = 0
    while level:  # one pass per nesting level, containers only
        depth += 1
        if depth > limit:
            return True
        level = [
            child
            for container in level
            for child in (container.values() if type(container) is dict else container)
            if type(child) is dict or type(child) is list
        ]
    return False


def parse_records(body: bytes, max_depth: int) -> tuple[bool, list[bytes | memoryview]]:
    """Return (is_batch, record texts as UTF-8). Raise InvalidBody with an API error code.

    A batch's records are views into the body (no copies)."""
    text = body.strip(_JSON_WS)
    if not text:
        raise InvalidBody("empty_body", "request body must be a JSON value or a JSON array")
    batch = text[:1] == b"["
    too_deep = InvalidBody(
        "too_deep", f"records may nest arrays/objects at most {max_depth} levels deep"
    )
    try:
        value = orjson.loads(text)  # strict: UTF-8, surrogates, NaN, numbers within a double
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):  # orjson's own limit, 1024
            raise too_deep from None
        raise InvalidBody("invalid_json", f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # deeper than the interpreter's recursion limit (~1000)
        raise too_deep from None
    # A body with fewer brackets than the limit cannot nest deeper (the common case).
    if text.count(b"[") + text.count(b"{") > max_depth and nesting_exceeds(
        value, max_depth + batch
    ):
        raise too_deep
    del value  # only needed for the checks above
    if b"\\u0000" in text and _NUL_ESCAPE.search(text):
        raise InvalidBody("invalid_record", "records must not contain the \\u0000 character")
    if not batch:
        return False, [text]
    elements = _ELEMENTS.decode(text)
    if not elements:
        raise InvalidBody("empty_batch", "a batch must contain at least one record")
    if len(elements) > MAX_BATCH_RECORDS:
        raise InvalidBody(
            "batch_too_large", f"a batch may contain at most {MAX_BATCH_RECORDS} records"
        )
    return True, [memoryview(e) for e in elements]
