"""Idempotency-Key on PostgreSQL, where a keyed create is one statement: a retry, a concurrent
duplicate or a reused key answers without a second todo or a second event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
from nats.js import JetStreamContext

from shared_contracts.catalog import TODO_COMMANDS_CONSUMER, TODOS
from tests.conftest import consumer_bound, wait_for_messages

StartTodo = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_retries_and_concurrent_duplicates_make_one_todo_and_one_event(
    todo_app: StartTodo, jetstream: JetStreamContext
) -> None:
    async with todo_app() as client:
        await consumer_bound(jetstream, "TODO_COMMANDS", TODO_COMMANDS_CONSUMER.durable)

        def post(text: str, key: str) -> asyncio.Future[httpx.Response]:
            return asyncio.ensure_future(
                client.post("/api/todos", json={"text": text}, headers={"Idempotency-Key": key})
            )

        together = await asyncio.gather(*(post("pay rent", "rent-2026-12") for _ in range(16)))
        retried = await post(" pay rent ", "rent-2026-12")
        reused = await post("pay the gym", "rent-2026-12")
        other = await post("pay the gym", "gym-2026-12")
        listed = (await client.get("/api/todos")).json()
        # The relay publishes in commit order, so any duplicate would precede this last one.
        await post("the last one", "last")
        events = await wait_for_messages(jetstream, TODOS.name, 3)

    assert {r.status_code for r in together} == {201}
    assert len({r.json()["id"] for r in together}) == 1
    assert retried.status_code == 201
    assert retried.json() == together[0].json()
    assert reused.status_code == 422
    assert reused.json()["error"] == "idempotency_key_reused"
    assert other.status_code == 201
    assert sorted(t["text"] for t in listed) == ["pay rent", "pay the gym"]
    assert [json.loads(e.data)["text"] for e in events] == [
        "pay rent",
        "pay the gym",
        "the last one",
    ]
