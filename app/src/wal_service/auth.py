"""API keys: who may read the logs and who may append to them.

The keys file (API_KEYS_FILE) holds one key per line, ``<name>:<role>:<sha256 hex of the
token>``; blank lines and lines starting with ``#`` are skipped. The process keeps only the
hashes: a request's bearer token is hashed and compared with every key's hash in constant
time. Tokens, hashes and the Authorization header never reach a log line or a metric label;
a key's name does (the access log says which key made each request).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .metrics import Metrics

ROLES = ("reader", "writer")
# Methods a reader may use; every other method under the prefix needs a writer.
SAFE_METHODS = frozenset({"GET", "HEAD"})
PROTECTED_PREFIX = "/api/v1/logs/"
KEY_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_HASH_RE = re.compile(r"^[0-9a-fA-F]{64}$")
# RFC 6750 section 2.1: the b64token syntax of a bearer token.
_TOKEN_RE = re.compile(rb"^[A-Za-z0-9._~+/-]+=*$")
# Scope key under which the access log finds the outcome (a key name or a failure reason).
SCOPE_KEY = "wal.auth"

Reason = Literal["missing", "malformed", "unknown", "forbidden"]
REASONS: tuple[Reason, ...] = ("missing", "malformed", "unknown", "forbidden")


@dataclass(frozen=True)
class ApiKey:
    name: str
    role: str
    digest: bytes = field(repr=False)
    """SHA-256 of the token (32 bytes)."""

    def may(self, method: str) -> bool:
        return self.role == "writer" or method in SAFE_METHODS


def token_digest(token: str | bytes) -> bytes:
    return hashlib.sha256(token.encode() if isinstance(token, str) else token).digest()


def key_line(name: str, role: str, token: str) -> str:
    """The keys-file line for a token (what the platform writes into the Secret)."""
    return f"{name}:{role}:{token_digest(token).hex()}"


def parse_keys(text: str) -> tuple[ApiKey, ...]:
    """The keys of a keys file; ValueError names the line, never its hash."""
    keys: list[ApiKey] = []
    names: set[str] = set()
    digests: set[bytes] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) != 3:
            raise ValueError(f"line {number} must be <name>:<role>:<sha256 hex of the token>")
        name, role, hexdigest = parts
        if not KEY_NAME_RE.fullmatch(name):
            raise ValueError(
                f"line {number}: key name must be 1-64 characters of A-Z a-z 0-9 . _ - "
                "starting with a letter or digit"
            )
        if role not in ROLES:
            raise ValueError(
                f"line {number}: key {name!r} has role {role!r}; must be reader or writer"
            )
        if not _HASH_RE.fullmatch(hexdigest):
            raise ValueError(
                f"line {number}: key {name!r} needs the sha256 of its token as 64 hex digits"
            )
        digest = bytes.fromhex(hexdigest)
        if name in names:
            raise ValueError(f"line {number}: key name {name!r} appears twice")
        if digest in digests:
            raise ValueError(f"line {number}: key {name!r} has the same token as an earlier key")
        names.add(name)
        digests.add(digest)
        keys.append(ApiKey(name, role, digest))
    if not keys:
        raise ValueError("has no keys, so every request under /api/v1/logs/ would be refused")
    return tuple(keys)


class Authenticator:
    def __init__(self, keys: Sequence[ApiKey]) -> None:
        self.keys = tuple(keys)

    def identify(self, token: bytes) -> ApiKey | None:
        """The key whose hash matches; every key is compared, each in constant time."""
        digest = token_digest(token)
        found = None
        for key in self.keys:
            if hmac.compare_digest(digest, key.digest):
                found = key
        return found

    def check(
        self, method: str, headers: Sequence[tuple[bytes, bytes]]
    ) -> tuple[ApiKey | None, Reason | None]:
        """The request's key (None if there is none), and why it is refused (None if it is not)."""
        values = [value for name, value in headers if name == b"authorization"]
        if not values:
            return None, "missing"
        scheme, _, token = values[0].strip().partition(b" ")
        token = token.strip()
        if len(values) > 1 or scheme.lower() != b"bearer" or not _TOKEN_RE.fullmatch(token):
            return None, "malformed"
        key = self.identify(token)
        if key is None:
            return None, "unknown"
        return key, None if key.may(method) else "forbidden"


_REFUSALS: dict[Reason, tuple[int, str, str, str]] = {
    # status, error code, message, WWW-Authenticate (RFC 6750 section 3)
    "missing": (
        401,
        "unauthorized",
        "an API key is required: send Authorization: Bearer <token>",
        'Bearer realm="wal-service"',
    ),
    "malformed": (
        401,
        "unauthorized",
        "the Authorization header must be one 'Bearer <token>'",
        'Bearer realm="wal-service", error="invalid_request"',
    ),
    "unknown": (
        401,
        "unauthorized",
        "the API key is not valid (unknown, or removed by a rotation)",
        'Bearer realm="wal-service", error="invalid_token"',
    ),
    "forbidden": (
        403,
        "forbidden",
        "this API key has the reader role: it may read (GET) but not append; "
        "appending needs a writer key",
        'Bearer realm="wal-service", error="insufficient_scope"',
    ),
}


def _response(status: int, code: str, message: str, challenge: str) -> tuple[Message, Message]:
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", challenge.encode()),
    ]
    return (
        {"type": "http.response.start", "status": status, "headers": headers},
        {"type": "http.response.body", "body": body},
    )


_RESPONSES = {reason: _response(*refusal) for reason, refusal in _REFUSALS.items()}


def is_protected(path: str) -> bool:
    return path.startswith(PROTECTED_PREFIX) or path == PROTECTED_PREFIX.rstrip("/")


class AuthMiddleware:
    """Refuses requests under /api/v1/logs/ without a key that may use their method.

    Runs after the connection limits (header size and time, connection count: the protocol)
    and before anything reads the request body."""

    def __init__(self, app: ASGIApp, authenticator: Authenticator | None, metrics: Metrics) -> None:
        self.app = app
        self.authenticator = authenticator
        self.failures = metrics.auth_failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.authenticator is None or scope["type"] != "http" or not is_protected(scope["path"]):
            await self.app(scope, receive, send)
            return
        key, refused = self.authenticator.check(scope["method"], scope["headers"])
        # What the access log says about the request: the key's name, never its token or hash.
        outcome: dict[str, str] = {} if key is None else {"api_key": key.name}
        scope[SCOPE_KEY] = outcome
        if refused is None:
            await self.app(scope, receive, send)
            return
        outcome["auth_failure"] = refused
        self.failures.labels(refused).inc()
        start, body = _RESPONSES[refused]
        await send({**start})
        await send({**body})
