"""The HTTP shell every service shares: health, readiness, metrics, tracing and JSON errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from litestar import Litestar, MediaType, Request, Response, get
from litestar.exceptions import HTTPException, ValidationException
from litestar.middleware import DefineMiddleware
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR, HTTP_503_SERVICE_UNAVAILABLE
from litestar.types import ControllerRouterHandler
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared_runtime.asgi import INTERNAL_PATHS, RequestMetrics, TraceContext, error_body
from shared_runtime.server import serve
from shared_runtime.telemetry import is_recording

__all__ = ["EncodedJson", "database_unavailable_response", "serve", "service_app"]

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], Awaitable[str | None]]
"""Returns None when a hard dependency answers, otherwise the reason it does not."""


class EncodedJson:
    """A JSON answer the handler has already encoded, sent as Litestar's own response sends it
    (`content-type` and `content-length`, no other header) without its per-answer machinery:
    headers object, serializer lookup, background tasks; a tenth of a small POST's CPU.

    A handler returning it is an ASGI app to Litestar, so its body is documented with
    `responses=` instead of the return annotation; headers or cookies configured on the route
    or app are not added to it."""

    __slots__ = ("body", "status_code")

    def __init__(self, body: bytes, status_code: int) -> None:
        self.body = body
        self.status_code = status_code

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(self.body)).encode()),
        ]
        await send({"type": "http.response.start", "status": self.status_code, "headers": headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": False})


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    extra = {"extra": exc.extra} if exc.extra else {}
    error = "validation_failed" if isinstance(exc, ValidationException) else "http_error"
    return Response(
        error_body(exc.status_code, error, exc.detail, **extra),
        status_code=exc.status_code,
        headers=exc.headers,
        media_type=MediaType.JSON,
    )


def _unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", extra={"path": request.url.path})
    return Response(
        error_body(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal server error"),
        status_code=HTTP_500_INTERNAL_SERVER_ERROR,
        media_type=MediaType.JSON,
    )


def database_unavailable_response(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A request that needs the database while it is away: 503, so clients retry."""
    log.warning("database unavailable", extra={"path": request.url.path, "error": repr(exc)})
    return Response(
        error_body(HTTP_503_SERVICE_UNAVAILABLE, "database_unavailable", "try again shortly"),
        status_code=HTTP_503_SERVICE_UNAVAILABLE,
        headers={"Retry-After": "1"},
        media_type=MediaType.JSON,
    )


def health_handlers(checks: Sequence[ReadinessCheck]) -> list[ControllerRouterHandler]:
    @get("/healthz", include_in_schema=False, sync_to_thread=False)
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz", include_in_schema=False)
    async def readyz() -> Response[dict[str, Any]]:
        reasons = [reason for check in checks if (reason := await check()) is not None]
        if reasons:
            return Response(
                {"status": "unavailable", "reasons": reasons},
                status_code=HTTP_503_SERVICE_UNAVAILABLE,
            )
        return Response({"status": "ready"})

    @get("/metrics", include_in_schema=False, sync_to_thread=False)
    def metrics() -> Response[bytes]:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    return [healthz, readyz, metrics]


def service_app(
    *,
    service: str,
    route_handlers: Sequence[ControllerRouterHandler],
    readiness: Sequence[ReadinessCheck] = (),
    max_body_bytes: int = 16 * 1024,
    **litestar_options: Any,
) -> Litestar:
    """A Litestar app with the contract's operational endpoints and error shape already wired.

    Requests are counted and timed per route; trace context reaches every log line. Spans are
    recorded by OpenTelemetry's middleware only when an exporter is configured (see telemetry).
    """
    plugins = litestar_options.pop("plugins", [])
    if is_recording():
        from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

        # One span per request; per-message send/receive spans cost a fifth of a small request.
        telemetry = OpenTelemetryConfig(
            exclude=list(INTERNAL_PATHS), exclude_spans=["receive", "send"]
        )
        plugins = [OpenTelemetryPlugin(telemetry), *plugins]
    app = Litestar(
        route_handlers=[*route_handlers, *health_handlers(readiness)],
        middleware=[
            DefineMiddleware(RequestMetrics, app_name=service),
            *litestar_options.pop("middleware", []),
        ],
        plugins=plugins,
        exception_handlers={
            HTTPException: _http_error,
            Exception: _unexpected_error,
            **litestar_options.pop("exception_handlers", {}),
        },
        request_max_body_size=max_body_bytes,
        logging_config=None,
        **litestar_options,
    )
    if not is_recording():
        # Around everything, where Litestar puts OpenTelemetry's middleware: error logs written
        # by the exception handlers still carry the trace id.
        app.asgi_handler = TraceContext(app.asgi_handler)
    return app
