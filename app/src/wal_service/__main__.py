"""Entry point: ``python -m wal_service`` (or the ``wal-service`` script).

Runs ``uvicorn.Server`` with its own signal handling so that SIGTERM/SIGINT means
drain-then-stop: readiness turns 503 at once, requests are still served for
DRAIN_SECONDS, then the listener closes, in-flight requests get up to
SHUTDOWN_TIMEOUT_SECONDS to finish, the pool is closed and the process exits 0.
A second signal skips whatever is left of the drain period.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Generator

import uvicorn

from .app import ServiceState, create_app
from .config import ConfigError, Settings, ensure_fd_limit
from .jsonlog import setup_logging
from .protocol import ConnectionLimits, limited_protocol

log = logging.getLogger("wal_service.main")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, state: ServiceState) -> None:
        super().__init__(config)
        self.state = state
        self._drain_task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: int) -> None:
        if self._drain_task is None:
            drain = self.state.settings.drain_seconds
            log.info(
                "shutdown signal received, draining",
                extra={"signal": signal.Signals(sig).name, "drain_seconds": drain},
            )
            self.state.start_draining()
            self._drain_task = asyncio.get_running_loop().create_task(self._drain_then_stop(drain))
        else:
            log.info("second shutdown signal, stopping now")
            self.should_exit = True

    async def _drain_then_stop(self, seconds: float) -> None:
        await asyncio.sleep(seconds)
        log.info("drain period over, no longer accepting connections")
        self.should_exit = True


def _return_freed_buffers_to_the_os() -> None:
    """glibc raises its mmap threshold after a large buffer is freed, so later request
    bodies land on the heap and the process stays at its peak RSS after a burst. A
    fixed threshold keeps every buffer over 128 KiB in its own mapping, unmapped when
    freed."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc
        return
    m_mmap_threshold = -3  # <malloc.h>
    libc.mallopt(m_mmap_threshold, 128 * 1024)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="wal-service", description="WAL Service HTTP server")
    parser.add_argument(
        "--host",
        default="0.0.0.0",  # noqa: S104 - a container service listens on all interfaces
        help="address to bind (default 0.0.0.0; the port comes from PORT)",
    )
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
        ensure_fd_limit(settings)
    except ConfigError as exc:
        print(f"wal-service: configuration error: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    _return_freed_buffers_to_the_os()
    app = create_app(settings)
    limits = ConnectionLimits(
        max_header_bytes=settings.max_header_bytes,
        header_timeout=settings.header_read_timeout_seconds,
        max_connections=settings.max_connections,
    )
    config = uvicorn.Config(
        app,
        host=args.host,
        port=settings.port,
        http=limited_protocol(limits),
        log_config=None,
        access_log=False,
        server_header=False,
        # The client address is not used (not logged): skip X-Forwarded-* per request.
        proxy_headers=False,
        lifespan="on",
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
        timeout_keep_alive=5,
    )
    server = DrainingServer(config, app.state.wal)
    server.run()  # uses uvloop when installed (loop="auto")
    if not server.started:
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
