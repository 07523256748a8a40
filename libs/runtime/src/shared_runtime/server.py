"""Serving any ASGI app the way every service runs: uvicorn on uvloop and httptools, graceful
shutdown, traces flushed on exit. Framework-free, so a lean app starts without Litestar."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import uvicorn

from shared_runtime.settings import ServiceSettings
from shared_runtime.telemetry import shutdown_tracing


class _Server(uvicorn.Server):
    """Tells the app a shutdown began, so long-lived responses (SSE) end instead of holding it."""

    def __init__(self, config: uvicorn.Config, on_signal: Sequence[Callable[[], None]]) -> None:
        super().__init__(config)
        self._on_signal = on_signal

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
        http="httptools",
    )
    try:
        _Server(config, on_signal).run()
    finally:
        shutdown_tracing()
