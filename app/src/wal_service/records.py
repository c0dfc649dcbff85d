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
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_OBJECTS_AS_ARRAYS = bytes.maketrans(b"{}", b"[]")


class InvalidBody(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def nesting_exceeds(text: bytes, limit: int) -> bool:
    """True when arrays/objects in ``text`` (valid JSON) nest deeper than ``limit``."""
    if text.count(b"[") + text.count(b"{") <= limit:
        return False  # cannot be deeper than its number of brackets
    # Drop the strings (escaped backslashes first, then escaped quotes, then every
    # other quote-delimited run), keep the brackets as [ ], then peel off innermost
    # pairs: one nesting level per pass. All C-speed, at most limit + 1 passes.
    unescaped = text.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(unescaped.split(b'"')[::2])
    brackets = outside.translate(_OBJECTS_AS_ARRAYS, _NOT_BRACKETS)
    depth = 0
    while b"[]" in brackets:
        depth += 1
        if depth > limit:
            return True
        brackets = brackets.replace(b"[]", b"")
    return False


def parse_records(body: bytes, max_depth: int) -> tuple[bool, list[str]]:
    """Return (is_batch, record texts). Raise InvalidBody with an API error code."""
    text = body.strip(_JSON_WS)
    if not text:
        raise InvalidBody("empty_body", "request body must be a JSON value or a JSON array")
    batch = text[:1] == b"["
    too_deep = InvalidBody(
        "too_deep", f"records may nest arrays/objects at most {max_depth} levels deep"
    )
    try:
        orjson.loads(text)  # strict: UTF-8, surrogates, NaN, numbers within a double
    except orjson.JSONDecodeError as exc:
        if str(exc).startswith("depth limit exceeded"):  # orjson's own limit, 1024
            raise too_deep from None
        raise InvalidBody("invalid_json", f"request body is not valid JSON: {exc}") from None
    except RecursionError:  # deeper than the interpreter's recursion limit (~1000)
        raise too_deep from None
    if nesting_exceeds(text, max_depth + batch):
        raise too_deep
    if b"\\u0000" in text and _NUL_ESCAPE.search(text):
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
