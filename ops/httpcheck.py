"""One HTTP request (GET by default), optionally with a Host header, other headers or over a given socket, and
what the answer means in one line."""

from __future__ import annotations

import http.client
import json
import socket
import time
import urllib.parse
from dataclasses import dataclass

MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class HttpResult:
    ok: bool
    status: int | None
    summary: str
    """What happened, e.g. `200 in 12 ms` or `connection refused`."""
    cause: str = ""
    """On failure: the likely reason, for the layer the request went through."""
    detail: str = ""
    """The service's JSON error code or readiness reason, when the answer has one."""


class _SocketConnection(http.client.HTTPConnection):
    """HTTP over an already connected socket (a port-forward stream)."""

    def __init__(self, host: str, sock: socket.socket, timeout: float) -> None:
        super().__init__(host, timeout=timeout)
        self._given = sock

    def connect(self) -> None:
        self._given.settimeout(self.timeout)
        self.sock = self._given


def _error_detail(body: bytes) -> str:
    """The service's JSON error code or readiness reason, when the body has one."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return ""
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict) and error.get("code"):
        return str(error["code"])
    return str(data.get("reason") or "")


def classify(status: int, body: bytes, via_ingress: bool) -> tuple[bool, str]:
    """(ok, cause) for an HTTP status, worded for the layer the request crossed."""
    detail = _error_detail(body)
    if 200 <= status < 300:
        return True, ""
    if status == 503 and detail:
        return False, f"the service answers but is not ready ({detail})"
    if status == 503:
        return False, "the ingress controller has no ready endpoint for the Service" if via_ingress else "not ready"
    if status in (502, 504):
        return False, "the ingress controller cannot reach the pods (no ready endpoints, or a NetworkPolicy drops it)"
    if status == 401:
        return False, f"the service wants an API key it knows ({detail or 'unauthorized'})"
    if status == 403:
        return False, f"the API key's role does not allow this method ({detail or 'forbidden'})"
    if status == 404 and via_ingress and not detail:
        return False, "the ingress controller has no rule for this Host and path (the answer is its default backend)"
    if status == 404:
        return False, f"the service has no such path ({detail or 'not_found'})"
    if status in (301, 302, 307, 308):
        return False, "redirected (an ssl-redirect annotation, or https expected)"
    return False, f"unexpected status{f' ({detail})' if detail else ''}"


def http_get(
    url: str,
    host_header: str | None = None,
    timeout: float = 5.0,
    sock: socket.socket | None = None,
) -> HttpResult:
    """One bounded GET; never raises for network problems."""
    return http_request("GET", url, host_header=host_header, timeout=timeout, sock=sock)


def http_request(
    method: str,
    url: str,
    host_header: str | None = None,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 5.0,
    sock: socket.socket | None = None,
) -> HttpResult:
    """One bounded request; never raises for network problems. Header values are never part of the result."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "localhost"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    conn: http.client.HTTPConnection
    if sock is not None:
        conn = _SocketConnection(host, sock, timeout)
    elif parts.scheme == "https":
        conn = http.client.HTTPSConnection(host, parts.port, timeout=timeout)
    else:
        conn = http.client.HTTPConnection(host, parts.port, timeout=timeout)
    sent = {**({"Host": host_header} if host_header else {}), **(headers or {})}
    start = time.monotonic()
    try:
        conn.request(method, path, body=body, headers=sent)
        response = conn.getresponse()
        answer = response.read(MAX_BODY)
    except ConnectionRefusedError:
        return HttpResult(False, None, "connection refused", f"nothing listens on {parts.netloc}")
    except TimeoutError:
        return HttpResult(False, None, f"no answer within {timeout:g} s", "a firewall or NetworkPolicy drops it")
    except socket.gaierror:
        return HttpResult(False, None, f"{host} does not resolve", "add it to DNS or the hosts file")
    except (OSError, http.client.HTTPException) as exc:
        return HttpResult(False, None, f"request failed: {exc or type(exc).__name__}", "the connection broke")
    finally:
        conn.close()
    elapsed = (time.monotonic() - start) * 1000
    ok, cause = classify(response.status, answer, via_ingress=host_header is not None)
    return HttpResult(ok, response.status, f"{response.status} in {elapsed:.0f} ms", cause, _error_detail(answer))
