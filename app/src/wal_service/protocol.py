"""uvicorn's httptools protocol plus the connection limits uvicorn does not have.

* MAX_HEADER_BYTES: a request whose header block grows beyond it gets 431 and the
  connection is closed (httptools would otherwise buffer headers without bound).
* HEADER_READ_TIMEOUT_SECONDS: a connection must deliver a complete header block
  this long after it opened or after the first byte of a request; else 408 + close.
  (Idle keep-alive connections are closed by uvicorn's own keep-alive timeout.)
* MAX_CONNECTIONS: when a new connection would exceed it, the connection that has
  been waiting longest without a request in progress (idle keep-alive, or headers
  still arriving) is closed to make room; only if every connection has a request in
  progress is the new one refused with 503. So slow or idle clients cannot lock out
  new ones, and the process stays below its file-descriptor limit.
* A response sent before its request body was fully received (413, 408, ...) closes
  the connection instead of reading and discarding the rest.

The body read timeout is enforced by the application (it answers 408).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("wal_service.protocol")


@dataclass(frozen=True)
class ConnectionLimits:
    max_header_bytes: int
    header_timeout: float
    max_connections: int


def _canned(status: str) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(status)}\r\nconnection: close\r\n\r\n{status}"
    ).encode()


HEADERS_TOO_LARGE = _canned("431 Request Header Fields Too Large")
REQUEST_TIMEOUT = _canned("408 Request Timeout")
UNAVAILABLE = _canned("503 Service Unavailable")


def limited_protocol(limits: ConnectionLimits) -> type[HttpToolsProtocol]:
    """A protocol class for ``uvicorn.Config(http=...)`` enforcing ``limits``."""
    # Connections without a request in progress, oldest first: the ones to evict.
    parked: OrderedDict[LimitedProtocol, None] = OrderedDict()

    class LimitedProtocol(HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            # In the header block of the next request (from connection start or from
            # the end of the previous request until its headers are complete).
            self._in_head = True
            self._head_bytes = 0
            self._head_epoch = 0  # bumped each time a new header block starts
            self._message_complete = True
            self._head_timer: asyncio.TimerHandle | None = None

        # ------------------------------------------------------------ connection
        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if len(self.connections) > limits.max_connections and not self._evict_one():
                log.warning("connection limit reached, refusing a connection")
                transport.write(UNAVAILABLE)
                transport.close()
                return
            parked[self] = None
            self._arm_head_timer()

        def connection_lost(self, exc: Exception | None) -> None:
            parked.pop(self, None)
            self._cancel_head_timer()
            super().connection_lost(exc)

        def _evict_one(self) -> bool:
            for victim in parked:
                if victim is not self and not victim.transport.is_closing():
                    parked.pop(victim)
                    victim.transport.close()
                    return True
            return False

        # ------------------------------------------------------------ header bytes
        def data_received(self, data: bytes) -> None:
            if self._in_head:
                allowance = limits.max_header_bytes - self._head_bytes
                if len(data) > allowance:
                    # Feed only what the limit allows: the header block must end in it.
                    super().data_received(data[:allowance])
                    if self._in_head and not self.transport.is_closing():
                        self._refuse(HEADERS_TOO_LARGE)
                        return
                    data = data[allowance:]
                    if self.transport.is_closing():
                        return
                    # fall through: the rest is body (and maybe further requests)
            epoch, in_head = self._head_epoch, self._in_head
            super().data_received(data)
            if in_head and self._in_head and epoch == self._head_epoch:
                self._head_bytes += len(data)
            # A header block that starts in the middle of a read (pipelining) is
            # counted from the next read on: it may exceed the limit by one read.

        def _refuse(self, response: bytes) -> None:
            self.transport.write(response)
            self.transport.close()

        # ------------------------------------------------------------ parser events
        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._message_complete = False
            self._arm_head_timer()

        def on_headers_complete(self) -> None:
            self._in_head = False
            self._cancel_head_timer()
            parked.pop(self, None)
            super().on_headers_complete()

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._message_complete = True
            self._in_head = True
            self._head_bytes = 0
            self._head_epoch += 1

        def on_response_complete(self) -> None:
            # The answered request is self.cycle unless a pipelined one already follows
            # (whose predecessor was then fully received).
            body_unread = not self.pipeline and self.cycle.more_body
            super().on_response_complete()
            if self.transport.is_closing():
                return
            if body_unread:
                # Answered before the body was complete: do not read the rest.
                self.transport.close()
                return
            if not self.pipeline:
                parked[self] = None

        # ------------------------------------------------------------ header timeout
        def _arm_head_timer(self) -> None:
            if self._head_timer is None:
                self._head_timer = self.loop.call_later(limits.header_timeout, self._head_timed_out)

        def _cancel_head_timer(self) -> None:
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._in_head and not self.transport.is_closing():
                if self._message_complete:  # not a byte of a request yet: just close
                    self.transport.close()
                else:
                    self._refuse(REQUEST_TIMEOUT)

    return LimitedProtocol
