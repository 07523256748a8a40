"""The HTTP side as a plain ASGI app: `POST /` with a CloudEvent, health, readiness, metrics.

svc-wikipedia scales to zero, so its start is the wait of whoever triggered it; a web framework
would be most of that start. Five routes do not need one: this module keeps the contract's
routes, error shape (`{status_code, error, detail}`), request metrics, trace context and OpenAPI
document, and imports nothing but the suggestion handler's own needs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared_contracts.catalog import WIKIPEDIA_REQUESTED
from shared_contracts.cloudevents import CloudEvent, InvalidEvent
from shared_runtime.asgi import (
    INTERNAL_PATHS,
    ASGIApp,
    Receive,
    RequestMetrics,
    Scope,
    Send,
    TraceContext,
    error_body,
)
from svc_wikipedia.metrics import FAILURES
from svc_wikipedia.suggestions import PING_EVENT_TYPE, Suggester, SuggestionFailed, trigger_id

log = logging.getLogger(__name__)

ACCEPTED_TYPES = frozenset({PING_EVENT_TYPE, WIKIPEDIA_REQUESTED.event_type})
RETRY_AFTER_SECONDS = 30
MAX_BODY_BYTES = 16 * 1024

Headers = list[tuple[bytes, bytes]]
ReadinessCheck = Callable[[], Awaitable[str | None]]
Lifespan = Callable[[], Any]
"""An async context manager factory: entered at start-up, left at shutdown."""


class _HttpError(Exception):
    def __init__(self, status: int, detail: str, headers: Headers | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or []


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: bytes = b"application/json",
    headers: Headers | None = None,
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def _json(send: Send, status: int, document: Any, headers: Headers | None = None) -> None:
    await _respond(send, status, json.dumps(document).encode(), headers=headers)


async def _read_body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _HttpError(413, "Request Entity Too Large")
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


OPENAPI = {
    "openapi": "3.1.0",
    "info": {"title": "svc-wikipedia", "version": "0.1.0"},
    "paths": {
        "/": {
            "post": {
                "summary": "Suggest a random article to read (CloudEvent trigger)",
                "description": (
                    "A CloudEvent in binary or structured HTTP mode, of type "
                    f"{' or '.join(sorted(ACCEPTED_TYPES))}. 202 once the todo command is "
                    "published; 400 for a bad event; 503 when the caller should retry later "
                    "(Wikipedia or NATS unavailable)."
                ),
                "operationId": "ReceiveCloudevent",
                "responses": {
                    "202": {
                        "description": "The todo command is stored in JetStream.",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["command_id", "url", "duplicate"],
                                    "properties": {
                                        "command_id": {"type": "string"},
                                        "url": {"type": "string"},
                                        "duplicate": {"type": "boolean"},
                                    },
                                }
                            }
                        },
                    },
                    "400": {"description": "Not a CloudEvent this service accepts."},
                    "503": {"description": "Wikipedia or NATS unavailable; see Retry-After."},
                },
            }
        }
    },
}


Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


async def _error(send: Send, error: _HttpError) -> None:
    body = error_body(error.status, "http_error", error.detail)
    await _json(send, error.status, body, error.headers)


class WikipediaHttp:
    """The ASGI app. `suggester` is read per request: the lifespan sets it once NATS is up."""

    def __init__(
        self, service: str, readiness: Sequence[ReadinessCheck], lifespan: Lifespan
    ) -> None:
        self.suggester: Suggester | None = None
        self._readiness = readiness
        self._lifespan = lifespan
        self._routes: dict[str, dict[str, Handler]] = {
            "/": {"POST": self._cloudevent},
            "/healthz": {"GET": self._healthz},
            "/readyz": {"GET": self._readyz},
            "/metrics": {"GET": self._metrics},
            "/schema/openapi.json": {"GET": self._openapi},
        }
        self._measured = RequestMetrics(self._handle, service)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._run_lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        methods = self._routes.get(scope["path"])
        if methods is None:
            await _error(send, _HttpError(404, "Not Found"))
        elif scope["method"] not in methods:
            allow = ", ".join(methods).encode()
            await _error(send, _HttpError(405, "Method Not Allowed", [(b"allow", allow)]))
        else:
            scope["path_template"] = scope["path"]  # only routes are counted, by their path
            await self._measured(scope, receive, send)

    async def _handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await self._routes[scope["path"]][scope["method"]](scope, receive, send)
        except _HttpError as error:
            await _error(send, error)
        except Exception:
            log.exception("unhandled error", extra={"path": scope["path"]})
            await _json(send, 500, error_body(500, "internal_error", "internal server error"))

    async def _run_lifespan(self, receive: Receive, send: Send) -> None:
        await receive()  # lifespan.startup
        try:
            context = self._lifespan()
            await context.__aenter__()
        except Exception as exc:
            log.exception("start-up failed")
            await send({"type": "lifespan.startup.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        try:
            await context.__aexit__(None, None, None)
        except Exception as exc:
            log.exception("shutdown failed")
            await send({"type": "lifespan.shutdown.failed", "message": repr(exc)})
            return
        await send({"type": "lifespan.shutdown.complete"})

    async def _cloudevent(self, scope: Scope, receive: Receive, send: Send) -> None:
        suggester = self.suggester
        if suggester is None:
            raise _HttpError(503, "not connected to NATS yet", [(b"retry-after", b"5")])
        body = await _read_body(receive)
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        try:
            event = CloudEvent.from_http(headers, body)
            trigger = trigger_id(event, ACCEPTED_TYPES)
        except InvalidEvent as bad:
            FAILURES.labels("invalid_event").inc()
            raise _HttpError(400, f"invalid CloudEvent: {bad}") from bad
        try:
            suggestion = await suggester.suggest(trigger)
        except SuggestionFailed as failure:
            retry_after = str(RETRY_AFTER_SECONDS).encode()
            raise _HttpError(503, str(failure), [(b"retry-after", retry_after)]) from failure
        await _json(
            send,
            202,
            {
                "command_id": suggestion.command_id,
                "url": suggestion.url,
                "duplicate": suggestion.duplicate,
            },
        )

    async def _healthz(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _json(send, 200, {"status": "ok"})

    async def _readyz(self, scope: Scope, receive: Receive, send: Send) -> None:
        reasons = [reason for check in self._readiness if (reason := await check()) is not None]
        if reasons:
            await _json(send, 503, {"status": "unavailable", "reasons": reasons})
        else:
            await _json(send, 200, {"status": "ready"})

    async def _metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _respond(send, 200, generate_latest(), CONTENT_TYPE_LATEST.encode())

    async def _openapi(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _json(send, 200, OPENAPI)


def traced(app: ASGIApp, *, recording: bool) -> ASGIApp:
    """Spans through OpenTelemetry's ASGI middleware when they are recorded (imported only
    then: not the cold path), otherwise just the trace context."""
    if not recording:
        return TraceContext(app)
    from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware

    excluded = ",".join(INTERNAL_PATHS)
    return OpenTelemetryMiddleware(app, excluded_urls=excluded, exclude_spans=["receive", "send"])
