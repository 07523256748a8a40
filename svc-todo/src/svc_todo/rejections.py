"""How svc-todo refuses a write: one exception, logged and counted with a stable reason."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions.http_exceptions import RequestEntityTooLarge
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_413_REQUEST_ENTITY_TOO_LARGE,
    HTTP_415_UNSUPPORTED_MEDIA_TYPE,
)

from shared_contracts.todos import TodoTextError
from svc_todo.metrics import TODOS_REJECTED

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ErrorBody:
    """The shape of every error answer (documented in OpenAPI)."""

    status_code: int
    error: str
    detail: str


class Rejected(Exception):
    def __init__(self, reason: str, detail: str, status_code: int = HTTP_400_BAD_REQUEST) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.status_code = status_code

    @classmethod
    def from_text_error(cls, error: TodoTextError) -> Rejected:
        return cls(error.reason, error.message)


def record(rejection: Rejected, path: str) -> None:
    TODOS_REJECTED.labels(reason=rejection.reason).inc()
    log.info(
        "todo rejected",
        extra={"reason": rejection.reason, "detail": rejection.detail, "path": path},
    )


def rejection_response(request: Request[Any, Any, Any], exc: Rejected) -> Response[Any]:
    record(exc, request.url.path)
    return Response(
        {"status_code": exc.status_code, "error": exc.reason, "detail": exc.detail},
        status_code=exc.status_code,
        media_type=MediaType.JSON,
    )


async def read_json_object(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """The request body as a JSON object, or the precise reason it is not one."""
    if request.content_type[0] != MediaType.JSON:
        raise Rejected(
            "unsupported_media_type",
            "send the body as application/json",
            HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        )
    try:
        body = await request.body()
    except RequestEntityTooLarge as exc:
        raise Rejected(
            "body_too_large", "the body must be at most 16 KiB", HTTP_413_REQUEST_ENTITY_TOO_LARGE
        ) from exc
    try:
        document = _decode(body)
    except ValueError as exc:
        raise Rejected("invalid_json", f"the body is not valid JSON: {exc}") from exc
    except RecursionError as exc:  # fits in 16 KiB: a thousand nested brackets
        raise Rejected("invalid_json", "the body is JSON nested too deeply") from exc
    if not isinstance(document, dict):
        raise Rejected("body_not_object", "the body must be a JSON object")
    return document


def _decode(body: bytes) -> Any:
    """msgspec reads a small valid body several times faster than json; whatever it refuses
    (malformed JSON, and what json accepts but msgspec does not: NaN, a BOM, UTF-16, a lone
    surrogate) is read by json, so the outcome and its error message stay json's."""
    try:
        return msgspec.json.decode(body)
    except msgspec.DecodeError:
        return json.loads(body)


def reject_unknown_fields(document: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise Rejected("unknown_field", f"unknown field(s): {', '.join(unknown)}")


def no_such_file(_: Request[Any, Any, Any], __: Exception) -> Response[dict[str, Any]]:
    """A static path that names no file, or that no file can have (a NUL in it): 404, without
    echoing the path asked for."""
    return Response({"status_code": 404, "detail": "Not Found"}, status_code=404)
