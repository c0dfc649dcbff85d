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

import msgspec
import orjson

MAX_BATCH_RECORDS = 10_000

_JSON_WS = b" \t\r\n"
# Each element of a top-level array as the raw bytes the client sent.
_ELEMENTS = msgspec.json.Decoder(list[msgspec.Raw])
# \u0000 as an escape, i.e. preceded by an even number of backslashes (`\\u0000` is a
# backslash followed by the text "u0000", which is fine).
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")
# Brackets outside strings; strings are matched whole so their brackets do not count.
_BRACKETS = re.compile(rb'([\[{])|[\]}]|"[^"\\]*(?:\\.[^"\\]*)*"')


class InvalidBody(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def nesting_exceeds(text: bytes, limit: int) -> bool:
    """True when arrays/objects in ``text`` nest deeper than ``limit``."""
    if text.count(b"[") + text.count(b"{") <= limit:
        return False  # cannot be deeper than its number of brackets
    depth = 0
    for match in _BRACKETS.finditer(text):
        if match.lastindex == 1:
            depth += 1
            if depth > limit:
                return True
        elif match.group(0)[0] != 0x22:  # a closing bracket, not a string
            depth -= 1
    return False


def parse_records(body: bytes, max_depth: int) -> tuple[bool, list[str]]:
    """Return (is_batch, record texts). Raise InvalidBody with an API error code."""
    text = body.strip(_JSON_WS)
    if not text:
        raise InvalidBody("empty_body", "request body must be a JSON value or a JSON array")
    batch = text[:1] == b"["
    # Before parsing: the parsers recurse, so depth is checked on the raw bytes first.
    if nesting_exceeds(text, max_depth + batch):
        raise InvalidBody(
            "too_deep", f"records may nest arrays/objects at most {max_depth} levels deep"
        )
    try:
        orjson.loads(text)  # strict: UTF-8, surrogates, NaN, numbers within a double
    except orjson.JSONDecodeError as exc:
        raise InvalidBody("invalid_json", f"request body is not valid JSON: {exc}") from None
    if _NUL_ESCAPE.search(text):
        raise InvalidBody("invalid_record", "records must not contain the \\u0000 character")
    if not batch:
        return False, [text.decode()]
    elements = _ELEMENTS.decode(text)
    if not elements:
        raise InvalidBody("empty_batch", "a batch must contain at least one record")
    if len(elements) > MAX_BATCH_RECORDS:
        raise InvalidBody(
            "batch_too_large", f"a batch may contain at most {MAX_BATCH_RECORDS} records"
        )
    return True, [bytes(e).decode() for e in elements]
