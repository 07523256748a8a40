"""The REST API of the contract: `/api/todos`."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, HeaderParameter

from shared_contracts.todos import Todo, TodoTextError
from svc_todo.rejections import Rejected, read_json_object, reject_unknown_fields
from svc_todo.service import TodoNotFound, TodoService

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


class TodoController(Controller):
    path = "/api/todos"
    tags = ["todos"]

    @get()
    async def list_todos(self, todos: NamedDependency[TodoService]) -> list[Todo]:
        """All todos, newest first."""
        return await todos.list()

    @post(status_code=201)
    async def create_todo(
        self,
        request: Request[Any, Any, Any],
        todos: NamedDependency[TodoService],
        idempotency_key: IdempotencyKey,
    ) -> Todo:
        """Create a todo from `{"text": str}`: trimmed, 1..140 characters."""
        document = await read_json_object(request)
        reject_unknown_fields(document, {"text"})
        key = f"http:{idempotency_key}" if idempotency_key else None
        try:
            return await todos.create(document.get("text"), idempotency_key=key, via="http")
        except TodoTextError as exc:
            raise Rejected.from_text_error(exc) from exc

    @get("/{todo_id:uuid}")
    async def get_todo(self, todo_id: FromPath[UUID], todos: NamedDependency[TodoService]) -> Todo:
        try:
            return await todos.get(todo_id)
        except TodoNotFound as exc:
            raise NotFoundException(f"no todo {todo_id}") from exc

    @put("/{todo_id:uuid}")
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

    @delete("/{todo_id:uuid}", status_code=204)
    async def delete_todo(
        self, todo_id: FromPath[UUID], todos: NamedDependency[TodoService]
    ) -> None:
        try:
            await todos.delete(todo_id)
        except TodoNotFound as exc:
            raise NotFoundException(f"no todo {todo_id}") from exc
