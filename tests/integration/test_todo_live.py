"""Live updates follow the TODOS stream only while a page listens."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
from nats.js import JetStreamContext

from shared_contracts.catalog import TODO_COMMANDS_CONSUMER, TODO_DELETED, TODOS
from shared_testkit.polling import eventually
from svc_todo.live import LiveUpdates
from tests.conftest import consumer_bound

StartTodo = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def consumers_on_todos(js: JetStreamContext) -> int:
    return (await js.stream_info(TODOS.name)).state.consumer_count


async def test_with_no_page_open_writes_reach_no_follower_and_a_page_hears_the_next_change(
    todo_app: StartTodo, jetstream: JetStreamContext
) -> None:
    async with todo_app() as client:
        await consumer_bound(jetstream, "TODO_COMMANDS", TODO_COMMANDS_CONSUMER.durable)
        (await client.post("/api/todos", json={"text": "nobody is looking"})).raise_for_status()
        await eventually(lambda: _stream_has(jetstream, 1), message="the first event on the stream")
        assert await consumers_on_todos(jetstream) == 0

        async with client.stream("GET", "/events") as events:
            assert events.status_code == 200
            assert await consumers_on_todos(jetstream) == 1
            await client.post("/api/todos", json={"text": "a page is open"})
            lines = events.aiter_lines()
            received = await asyncio.wait_for(_first_data(lines), timeout=5)

    assert received == "data: todo.created.v1"


async def test_a_replica_stops_following_once_its_last_page_has_left(
    jetstream: JetStreamContext, todo_app: StartTodo
) -> None:
    async with todo_app():  # declares the streams
        await consumer_bound(jetstream, "TODO_COMMANDS", TODO_COMMANDS_CONSUMER.durable)
    live = LiveUpdates(linger_seconds=0.2)
    await live.attach(jetstream)
    dropped, reading = await live.listen(), await live.listen()
    assert await consumers_on_todos(jetstream) == 1

    del dropped  # a page that went away before its stream was read
    await asyncio.sleep(0.5)  # the scenario: the other page still open past the linger
    assert await consumers_on_todos(jetstream) == 1
    await jetstream.publish(TODO_DELETED.subject, b"{}", headers={"ce-type": "todo.deleted.v1"})
    assert await asyncio.wait_for(anext(reading), timeout=5) == "todo.deleted.v1"
    await reading.aclose()

    await eventually(
        lambda: _no_consumers(jetstream), message="the follower gone after the last page left"
    )
    live.close()


async def _stream_has(js: JetStreamContext, count: int) -> bool:
    return (await js.stream_info(TODOS.name)).state.messages >= count


async def _no_consumers(js: JetStreamContext) -> bool:
    return await consumers_on_todos(js) == 0


async def _first_data(lines: object) -> str:
    async for line in lines:  # type: ignore[attr-defined]
        if line.startswith("data:"):
            return str(line)
    raise AssertionError("the stream ended without a change")
