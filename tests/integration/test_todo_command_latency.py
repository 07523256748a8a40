"""A lone command is handled promptly, not when the consumer's pull happens to expire."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
from nats.js import JetStreamContext

from shared_contracts.catalog import CREATE_TODO, TODO_COMMANDS_CONSUMER
from shared_testkit.polling import eventually
from tests.conftest import consumer_bound
from tests.integration.test_todo_commands import command

StartTodo = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_each_of_several_spaced_commands_becomes_a_todo_within_a_second(
    todo_app: StartTodo, jetstream: JetStreamContext
) -> None:
    async with todo_app() as client:
        await consumer_bound(jetstream, CREATE_TODO.stream.name, TODO_COMMANDS_CONSUMER.durable)
        # The scenario itself, not synchronisation: the consumer has gone idle in a long pull
        # (its first pull expired), then commands come one after another.
        await asyncio.sleep(5.5)
        for n in range(3):
            event = command(f"spaced command {n}")
            sent = time.monotonic()
            await jetstream.publish(CREATE_TODO.subject, event.data, headers=event.nats_headers())

            async def created(text: str = f"spaced command {n}") -> bool:
                listed = (await client.get("/api/todos")).json()
                return text in [todo["text"] for todo in listed]

            await eventually(created, timeout=5, interval=0.01)
            assert time.monotonic() - sent < 1.0
