"""The REST API of the contract: `/api/todos`."""

from __future__ import annotations

from dataclasses import dataclass
from http import HTTPStatus
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, MediaType, Request, Response, delete, get, post, put
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, HeaderParameter, QueryParameter
from litestar.status_codes import (
    HTTP_201_CREATED,
    HTTP_304_NOT_MODIFIED,
    HTTP_422_UNPROCESSABLE_ENTITY,
)

from shared_contracts.todos import TEXT_MAX_CHARACTERS, Todo, TodoTextError
from shared_runtime.web import EncodedJson
from svc_todo.listing import DEFAULT_LIMIT, MAX_LIMIT, BadCursor, Position, entity_tag, matches
from svc_todo.rejections import ErrorBody, Rejected, read_json_object, reject_unknown_fields
from svc_todo.service import IdempotencyKeyReused, TodoNotFound, TodoService

TEXT = Schema(
    type=OpenAPIType.STRING,
    min_length=1,
    max_length=TEXT_MAX_CHARACTERS,
    description="Trimmed; no NUL, lone surrogate or other control character but tab and line "
    "breaks. A broken rule answers 400 naming it in `error`.",
)
CREATE_BODY = Schema(
    type=OpenAPIType.OBJECT,
    required=["text"],
    properties={"text": TEXT},
    additional_properties=False,
)
UPDATE_BODY = Schema(
    type=OpenAPIType.OBJECT,
    properties={"text": TEXT, "done": Schema(type=OpenAPIType.BOOLEAN)},
    additional_properties=False,
    min_properties=1,
)


def json_body(schema: Schema) -> type[Operation]:
    """Documents a JSON body the handler reads itself (to name each broken rule precisely),
    which Litestar cannot see from the handler's signature."""

    @dataclass
    class WithJsonBody(Operation):
        def __post_init__(self) -> None:
            self.request_body = RequestBody(
                content={MediaType.JSON: OpenAPIMediaType(schema=schema)}, required=True
            )

    return WithJsonBody


def errors(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers a route gives, all in the one JSON error shape."""
    return {
        status: ResponseSpec(data_container=ErrorBody, description=ERROR_MEANINGS[status])
        for status in statuses
    }


ERROR_MEANINGS = {
    400: "A rule is broken (`error` names it): text, JSON, fields, cursor or limit.",
    404: "No todo with this id.",
    413: "The body is over 16 KiB.",
    415: "The body is not application/json.",
    422: "This Idempotency-Key was already used with a different body.",
    503: "The database is unavailable; retry after `Retry-After` seconds.",
}


IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key",
        required=False,
        min_length=1,
        max_length=200,
        description="A retried POST with the same key returns the original todo.",
    ),
]


Limit = Annotated[
    int,
    QueryParameter(ge=1, le=MAX_LIMIT, description=f"Todos per page (at most {MAX_LIMIT})."),
]
Cursor = Annotated[
    str | None,
    QueryParameter(
        required=False, max_length=200, description="Opaque: taken from the `next` link."
    ),
]
IfNoneMatch = Annotated[str | None, HeaderParameter(name="If-None-Match", required=False)]


class TodoController(Controller):
    path = "/api/todos"
    tags = ["todos"]

    @get(
        responses={
            HTTP_304_NOT_MODIFIED: ResponseSpec(
                data_container=None, description="Unchanged since the given ETag."
            )
        },
        response_headers=[
            ResponseHeader(name="ETag", documentation_only=True, description="Of this page."),
            ResponseHeader(
                name="Link",
                documentation_only=True,
                required=False,
                description='`<…>; rel="next"` while more todos remain.',
            ),
        ],
    )
    async def list_todos(
        self,
        todos: NamedDependency[TodoService],
        if_none_match: IfNoneMatch,
        cursor: Cursor = None,
        limit: Limit = DEFAULT_LIMIT,
    ) -> Response[list[Todo]]:
        """One page of todos, newest first; follow the `Link: rel="next"` header for more."""
        try:
            after = None if cursor is None else Position.from_cursor(cursor)
        except BadCursor as exc:
            raise ValidationException(
                detail="Validation failed for GET /api/todos",
                extra=[{"key": "cursor", "message": str(exc), "source": "query"}],
            ) from exc
        page = await todos.page(limit, after)
        body = page.json()
        headers = {}
        if page.next is not None:
            headers["Link"] = f'<{self.path}?limit={limit}&cursor={page.next.cursor()}>; rel="next"'
        headers["ETag"] = etag = entity_tag(body, headers.get("Link", "").encode())
        if matches(if_none_match, etag):
            return Response(None, status_code=HTTP_304_NOT_MODIFIED, headers=headers)  # type: ignore[arg-type]
        return Response(body, headers=headers, media_type=MediaType.JSON)  # type: ignore[arg-type]

    @post(
        status_code=HTTP_201_CREATED,
        operation_class=json_body(CREATE_BODY),
        # The handler answers with already encoded JSON (see EncodedJson): documented here.
        responses={
            HTTP_201_CREATED: ResponseSpec(
                data_container=Todo,
                description=HTTPStatus.CREATED.description,
                generate_examples=False,
            ),
            **errors(400, 413, 415, 422, 503),
        },
    )
    async def create_todo(
        self,
        request: Request[Any, Any, Any],
        todos: NamedDependency[TodoService],
        idempotency_key: IdempotencyKey,
    ) -> EncodedJson:
        """Create a todo from `{"text": str}`: trimmed, 1..140 characters."""
        document = await read_json_object(request)
        reject_unknown_fields(document, {"text"})
        key = f"http:{idempotency_key}" if idempotency_key else None
        try:
            created = await todos.create(document.get("text"), idempotency_key=key, via="http")
        except TodoTextError as exc:
            raise Rejected.from_text_error(exc) from exc
        except IdempotencyKeyReused as exc:
            raise Rejected(
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different body",
                HTTP_422_UNPROCESSABLE_ENTITY,
            ) from exc
        return EncodedJson(created.json.encode(), HTTP_201_CREATED)

    @get("/{todo_id:uuid}", responses=errors(404, 503))
    async def get_todo(self, todo_id: FromPath[UUID], todos: NamedDependency[TodoService]) -> Todo:
        try:
            return await todos.get(todo_id)
        except TodoNotFound as exc:
            raise NotFoundException(f"no todo {todo_id}") from exc

    @put(
        "/{todo_id:uuid}",
        operation_class=json_body(UPDATE_BODY),
        responses=errors(400, 404, 413, 415, 503),
    )
    async def update_todo(
        self,
        todo_id: FromPath[UUID],
        request: Request[Any, Any, Any],
        todos: NamedDependency[TodoService],
    ) -> Todo:
        """Change `text` and/or `done`."""
        document = await read_json_object(request)
        reject_unknown_fields(document, {"text", "done"})
        if not document:
            raise Rejected("no_fields", "send text and/or done")
        done = document.get("done")
        if "done" in document and not isinstance(done, bool):
            raise Rejected("done_not_boolean", "done must be true or false")
        if "text" in document and document["text"] is None:
            raise Rejected("text_not_string", "text must be a string")
        try:
            return await todos.update(todo_id, text=document.get("text"), done=done)
        except TodoTextError as exc:
            raise Rejected.from_text_error(exc) from exc
        except TodoNotFound as exc:
            raise NotFoundException(f"no todo {todo_id}") from exc

    @delete("/{todo_id:uuid}", status_code=204, responses=errors(404, 503))
    async def delete_todo(
        self, todo_id: FromPath[UUID], todos: NamedDependency[TodoService]
    ) -> None:
        try:
            await todos.delete(todo_id)
        except TodoNotFound as exc:
            raise NotFoundException(f"no todo {todo_id}") from exc
