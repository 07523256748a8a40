"""Serving any ASGI app the way every service runs: uvicorn on uvloop and httptools, graceful
shutdown, traces flushed on exit. Framework-free, so a lean app starts without Litestar."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from shared_runtime.collector import resume_after_start
from shared_runtime.settings import ServiceSettings
from shared_runtime.telemetry import shutdown_tracing


def header_deadline_protocol(seconds: float) -> type[HttpToolsProtocol]:
    """httptools' protocol with a deadline on each request's headers: uvicorn has none, so a
    client sending headers slowly (or never finishing them) would hold a connection forever."""

    class HeaderDeadline(HttpToolsProtocol):
        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._arm()

        def on_headers_complete(self) -> None:
            self._disarm()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            self._disarm()
            self._deadline = self.loop.call_later(seconds, self.transport.close)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

    return HeaderDeadline


class _Server(uvicorn.Server):
    """Tells the app a shutdown began, so long-lived responses (SSE) end instead of holding it;
    collects garbage again once it listens (see `shared_runtime.collector`)."""

    def __init__(self, config: uvicorn.Config, on_signal: Sequence[Callable[[], None]]) -> None:
        super().__init__(config)
        self._on_signal = on_signal

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        resume_after_start()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # A signal handler may interrupt the event loop mid-step: run the callbacks as ordinary
        # loop callbacks, never inside the handler, so they see consistent asyncio state.
        loop = asyncio.get_running_loop()
        for callback in self._on_signal:
            loop.call_soon_threadsafe(callback)
        super().handle_exit(sig, frame)


def serve(
    app: Any,
    settings: ServiceSettings,
    *,
    graceful_seconds: int = 20,
    on_signal: Sequence[Callable[[], None]] = (),
) -> None:
    """Run until SIGINT/SIGTERM: stop accepting, finish in-flight requests, run shutdown hooks,
    flush traces."""
    config = uvicorn.Config(
        app,
        host="0.0.0.0",
        port=settings.port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=graceful_seconds,
        lifespan="on",
        # The fastest pair uvicorn supports (measured in bench/RESULTS.md); both are dependencies.
        loop="uvloop",
        http=header_deadline_protocol(settings.http_header_timeout_seconds),
    )
    try:
        _Server(config, on_signal).run()
    finally:
        shutdown_tracing()
