"""`todo.create.v1` commands on NATS: one todo per command id; bad commands dead-lettered."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
from nats.js import JetStreamContext

from shared_contracts.catalog import CREATE_TODO, TODO_COMMANDS_CONSUMER
from shared_contracts.cloudevents import CloudEvent
from shared_testkit.polling import eventually
from tests.conftest import consumer_bound, wait_for_messages

StartTodo = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def command(text: str, event_id: str | None = None) -> CloudEvent:
    """A command as any publisher may send it: its text as given, even one the rule refuses."""
    return CloudEvent(
        id=event_id or str(uuid.uuid4()),
        type=CREATE_TODO.event_type,
        source="tests",
        data=json.dumps({"text": text}).encode(),
    )


async def todo_texts(client: httpx.AsyncClient) -> list[str]:
    return [todo["text"] for todo in (await client.get("/api/todos")).json()]


async def test_a_command_creates_one_todo_even_when_delivered_twice(
    todo_app: StartTodo, jetstream: JetStreamContext
) -> None:
    async with todo_app() as client:
        await consumer_bound(jetstream, CREATE_TODO.stream.name, TODO_COMMANDS_CONSUMER.durable)
        event = command("Read https://en.wikipedia.org/wiki/NATS")
        await jetstream.publish(CREATE_TODO.subject, event.data, headers=event.nats_headers())
        # The same command again, past JetStream's de-duplication (another message id).
        retried = {**event.nats_headers(), "Nats-Msg-Id": str(uuid.uuid4())}
        await jetstream.publish(CREATE_TODO.subject, event.data, headers=retried)
        follow_up = command("a second command")
        await jetstream.publish(
            CREATE_TODO.subject, follow_up.data, headers=follow_up.nats_headers()
        )

        async def both_created() -> list[str] | None:
            texts = await todo_texts(client)
            return texts if "a second command" in texts else None

        texts = await eventually(both_created)

    assert sorted(texts) == ["Read https://en.wikipedia.org/wiki/NATS", "a second command"]


async def test_invalid_commands_go_to_the_dead_letter_queue_with_reasons(
    todo_app: StartTodo, jetstream: JetStreamContext
) -> None:
    async with todo_app() as client:
        await consumer_bound(jetstream, CREATE_TODO.stream.name, TODO_COMMANDS_CONSUMER.durable)
        too_long = command("x" * 141)
        await jetstream.publish(CREATE_TODO.subject, too_long.data, headers=too_long.nats_headers())
        await jetstream.publish(
            CREATE_TODO.subject, b"not json at all", headers={"Content-Type": "application/json"}
        )
        fine = command("still flowing")
        await jetstream.publish(CREATE_TODO.subject, fine.data, headers=fine.nats_headers())

        dead = await wait_for_messages(jetstream, "DLQ", 2)
        await eventually(lambda: _has(client, "still flowing"))
        texts = await todo_texts(client)

    assert texts == ["still flowing"]
    assert {m.subject for m in dead} == {"dlq.todo-commands"}
    reasons = sorted((m.headers or {})["dlq-reason"] for m in dead)
    assert reasons[0].startswith("text_too_long")
    assert reasons[1].startswith("undecodable event: missing CloudEvent attribute(s)")
    kept = next(m for m in dead if (m.headers or {}).get("ce-id") == too_long.id)
    assert json.loads(kept.data) == {"text": "x" * 141}
    assert (kept.headers or {})["dlq-deliveries"] == "1"


async def _has(client: httpx.AsyncClient, text: str) -> bool:
    return text in await todo_texts(client)


async def test_a_command_id_reused_for_another_text_is_dead_lettered_at_once(
    todo_app: StartTodo, jetstream: JetStreamContext
) -> None:
    async with todo_app() as client:
        await consumer_bound(jetstream, CREATE_TODO.stream.name, TODO_COMMANDS_CONSUMER.durable)
        first = command("water the plants", event_id="reused-id")
        await jetstream.publish(CREATE_TODO.subject, first.data, headers=first.nats_headers())
        await eventually(lambda: _has(client, "water the plants"))
        other = command("feed the cat", event_id="reused-id")
        headers = {**other.nats_headers(), "Nats-Msg-Id": "past-the-duplicate-window"}
        await jetstream.publish(CREATE_TODO.subject, other.data, headers=headers)
        [dead] = await wait_for_messages(jetstream, "DLQ", 1)
        texts = await todo_texts(client)

    assert texts == ["water the plants"]
    assert (dead.headers or {})["dlq-reason"].startswith("idempotency_key_reused")
    assert (dead.headers or {})["dlq-deliveries"] == "1"
