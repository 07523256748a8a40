"""The `todo.create.v1` consumer: NATS is one more trigger of `TodoService.create`.

It runs on the shared delivery path as the durable pull consumer `todo-commands`, shared by every
replica. The CloudEvent id is the idempotency key, so a redelivered or republished command creates
one todo. A command that can never succeed goes to `dlq.todo-commands` at once; one that keeps
failing (the database away) goes there after `max_deliver` attempts.
"""

from __future__ import annotations

import msgspec

from shared_contracts.todos import CreateTodo, TodoTextError
from shared_runtime.delivery import Delivery, Reject
from svc_todo.metrics import TODOS_REJECTED
from svc_todo.service import IdempotencyKeyReused, TodoService


class CreateTodoOnCommand:
    """The handler the delivery path runs for every command."""

    def __init__(self, service: TodoService) -> None:
        self._service = service

    async def __call__(self, delivery: Delivery) -> str:
        try:
            text = CreateTodo.from_data(delivery.event.json_data()).text
        except (msgspec.ValidationError, TodoTextError) as exc:
            reason = exc.reason if isinstance(exc, TodoTextError) else "invalid_command"
            TODOS_REJECTED.labels(reason=reason).inc()
            raise Reject(f"{reason}: {exc}") from exc
        try:
            await self._service.create(
                text, idempotency_key=f"command:{delivery.event.id}", via="nats"
            )
        except IdempotencyKeyReused as exc:
            raise Reject(
                "idempotency_key_reused: this command id created a different todo"
            ) from exc
        return "created"
