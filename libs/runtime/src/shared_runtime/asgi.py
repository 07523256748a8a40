"""Plain ASGI middleware around every service's HTTP side: trace context and request metrics.

Framework-free, so a lean entry point (svc-wikipedia's scale-to-zero trigger) shares it with the
Litestar services. Both are built to cost microseconds on a small request: label children are
looked up once per (method, route, status) and reused, and no span is made unless recorded.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from opentelemetry import context
from prometheus_client import Counter, Gauge, Histogram

from shared_runtime.telemetry import continued_or_new

# Loose ASGI types: frameworks (Litestar) declare stricter ones of their own.
Scope = Any
Message = MutableMapping[str, Any]
Receive = Any
Send = Any
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]

INTERNAL_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probed constantly by the platform: neither traced nor counted."""

_LABELS = ("method", "path", "status_code", "app_name")
# The names and labels Litestar's Prometheus middleware used: dashboards and rules read them.
REQUESTS = Counter("http_requests", "Total requests", _LABELS)
REQUEST_SECONDS = Histogram(
    "http_request_duration_seconds", "Request duration, in seconds", _LABELS
)
IN_PROGRESS = Gauge("http_requests_in_progress", "Total requests currently in progress", _LABELS)
ERRORS = Counter("http_requests_error", "Total errors in requests", _LABELS)


def error_body(status_code: int, error: str, detail: Any, **extra: Any) -> dict[str, Any]:
    """The contract's JSON error shape, the same from every service."""
    return {"status_code": status_code, "error": error, "detail": detail, **extra}


class TraceContext:
    """Puts the caller's W3C trace context (or a new one) in force for the request, so every log
    line carries the trace id and outgoing messages carry it on. Used when spans are not
    recorded; with an exporter, OpenTelemetry's own middleware does this and records spans."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in INTERNAL_PATHS:
            await self.app(scope, receive, send)
            return
        traceparent = next(
            (value.decode("latin-1") for name, value in scope["headers"] if name == b"traceparent"),
            None,
        )
        token = context.attach(continued_or_new(traceparent))
        try:
            await self.app(scope, receive, send)
        finally:
            context.detach(token)


class RequestMetrics:
    """Counts and times requests by method, route template and status, for `/metrics`. Only
    requests routed to a handler (with a `path_template`) are counted: a scanner's random paths
    must not create a series each."""

    def __init__(self, app: ASGIApp, app_name: str) -> None:
        self.app = app
        self.app_name = app_name
        self._in_progress: dict[tuple[str, str], Any] = {}
        self._finished: dict[tuple[str, str, int], tuple[Any, Any, Any | None]] = {}

    def _finished_children(self, method: str, path: str, status: int) -> tuple[Any, Any, Any]:
        key = (method, path, status)
        if (children := self._finished.get(key)) is None:
            labels = (method, path, str(status), self.app_name)
            error = ERRORS.labels(*labels) if status >= 500 else None
            children = (REQUESTS.labels(*labels), REQUEST_SECONDS.labels(*labels), error)
            self._finished[key] = children
        return children

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path_template")
        if scope["type"] != "http" or path is None or scope["path"] in INTERNAL_PATHS:
            await self.app(scope, receive, send)
            return
        method = scope["method"]
        if (in_progress := self._in_progress.get((method, path))) is None:
            in_progress = IN_PROGRESS.labels(method, path, "200", self.app_name)
            self._in_progress[(method, path)] = in_progress
        started = time.perf_counter()
        status = 500

        async def send_recording_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        in_progress.inc()
        try:
            await self.app(scope, receive, send_recording_status)
        finally:
            in_progress.dec()
            count, duration, error = self._finished_children(method, path, status)
            count.inc()
            duration.observe(time.perf_counter() - started)
            if error is not None:
                error.inc()
