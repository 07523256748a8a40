"""The `todo.create.v1` consumer: NATS is one more trigger of `TodoService.create`.

A durable pull consumer shared by every replica; the CloudEvent id is the idempotency key, so a
redelivered or republished command creates one todo. A command that can never succeed goes to
`dlq.todo-commands` at once; one that keeps failing goes there after `max_deliver` attempts.
"""

from __future__ import annotations

import logging

from faststream import AckPolicy
from faststream.nats import ConsumerConfig, JStream, NatsMessage, NatsRouter, PullSub
from faststream.nats.annotations import JsClient
from faststream.params import NoCast
from pydantic import ValidationError

from shared_contracts.catalog import CREATE_TODO
from shared_contracts.cloudevents import CloudEvent, InvalidEvent
from shared_contracts.todos import CreateTodo, TodoTextError
from shared_runtime.messaging import dead_letter
from svc_todo.metrics import COMMANDS_PROCESSED, TODOS_REJECTED
from svc_todo.service import TodoService

log = logging.getLogger(__name__)

CONSUMER = "todo-commands"
ACK_WAIT_SECONDS = 30


def retry_delay(deliveries: int) -> float:
    return float(min(30, 2 ** max(deliveries - 1, 0)))


def command_router(service: TodoService, *, max_deliver: int) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        CREATE_TODO.subject,
        stream=JStream(CREATE_TODO.stream.name, declare=False),
        durable=CONSUMER,
        # One message per pull: a larger batch makes a lone command wait for the pull to expire.
        pull_sub=PullSub(batch_size=1, timeout=5),
        config=ConsumerConfig(ack_wait=ACK_WAIT_SECONDS, max_deliver=max_deliver),
        ack_policy=AckPolicy.MANUAL,
        title="create-todo",
        description="Creates a todo; the CloudEvent id is the idempotency key.",
    )
    async def create_todo(
        documented: NoCast[CreateTodo], message: NatsMessage, jetstream: JsClient
    ) -> None:
        """`documented` gives AsyncAPI the payload schema; the raw message is validated here, so
        a bad command is dead-lettered with its precise reason instead of failing in decoding."""
        deliveries = message.raw_message.metadata.num_delivered

        async def give_up(reason: str) -> None:
            COMMANDS_PROCESSED.labels(outcome="dead_lettered").inc()
            await dead_letter(
                jetstream,
                CONSUMER,
                message.headers,
                message.body,
                reason=reason,
                deliveries=deliveries,
            )
            await message.ack()

        try:
            event = CloudEvent.from_nats(message.headers, message.body)
            text = CreateTodo.model_validate(event.json_data()).text
        except (InvalidEvent, ValidationError, TodoTextError) as exc:
            reason = _rejection(exc)
            TODOS_REJECTED.labels(reason=reason).inc()
            await give_up(f"{reason}: {exc}")
            return
        try:
            await service.create(text, idempotency_key=f"command:{event.id}", via="nats")
        except Exception as exc:  # noqa: BLE001 - transient (database): retry, then give up
            if deliveries >= max_deliver:
                await give_up(f"failed {deliveries} times: {exc!r}")
                return
            COMMANDS_PROCESSED.labels(outcome="retried").inc()
            log.warning(
                "command failed, will retry",
                extra={"event_id": event.id, "error": repr(exc), "deliveries": deliveries},
            )
            await message.nack(delay=retry_delay(deliveries))
            return
        COMMANDS_PROCESSED.labels(outcome="created").inc()
        await message.ack()

    return router


def _rejection(exc: Exception) -> str:
    if isinstance(exc, TodoTextError):
        return exc.reason
    if isinstance(exc, ValidationError):
        causes = [e.get("ctx", {}).get("error") for e in exc.errors()]
        reasons = [c.reason for c in causes if isinstance(c, TodoTextError)]
        return reasons[0] if reasons else "invalid_command"
    return "invalid_event"
