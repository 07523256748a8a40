"""svc-todo's transactional outbox against real PostgreSQL and a real nats-server.

Every accepted change reaches the TODOS stream exactly once, in order per todo, whatever
happens to NATS or to the relay between commit and publish.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

import asyncpg
import httpx
import msgspec
from nats.js import JetStreamContext
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared_testkit.asgi_server import serve_app
from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually
from svc_todo.app import create_app
from svc_todo.settings import TodoSettings
from tests.conftest import stream_messages, wait_for_messages

StartTodo = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_each_change_is_one_cloudevent_on_the_stream(
    todo_app: StartTodo, jetstream: JetStreamContext
) -> None:
    async with todo_app() as client:
        todo = (await client.post("/api/todos", json={"text": "ship it"})).json()
        await client.put(f"/api/todos/{todo['id']}", json={"done": True})
        await client.delete(f"/api/todos/{todo['id']}")
        messages = await wait_for_messages(jetstream, "TODOS", 3)

    assert [m.subject for m in messages] == [
        "todos.events.created",
        "todos.events.updated",
        "todos.events.deleted",
    ]
    created, updated, deleted = messages
    headers = created.headers or {}
    assert headers["ce-specversion"] == "1.0"
    assert headers["ce-type"] == "todo.created.v1"
    assert headers["ce-source"] == "svc-todo"
    assert headers["Content-Type"] == "application/json"
    assert headers["Nats-Msg-Id"] == headers["ce-id"]
    assert headers["traceparent"].startswith("00-")
    assert json.loads(created.data) == todo
    assert json.loads(updated.data)["done"] is True
    assert json.loads(updated.data)["previous"] == {"text": None, "done": False}
    assert (updated.headers or {})["ce-type"] == "todo.updated.v1"
    assert json.loads(deleted.data) == {"id": todo["id"], "text": "ship it"}
    assert len({(m.headers or {})["ce-id"] for m in messages}) == 3
    # Each event names the one before it about the same todo; the creation names none.
    assert "ce-predecessorid" not in headers
    assert (updated.headers or {})["ce-predecessorid"] == headers["ce-id"]
    assert (deleted.headers or {})["ce-predecessorid"] == (updated.headers or {})["ce-id"]


async def test_one_trace_runs_from_the_request_through_the_database_to_the_publish(
    todo_app: StartTodo, jetstream: JetStreamContext, finished_spans: InMemorySpanExporter
) -> None:
    async with todo_app() as client:
        await client.post("/api/todos", json={"text": "traced"})
        message = (await wait_for_messages(jetstream, "TODOS", 1))[0]

    trace_id = (message.headers or {})["traceparent"].split("-")[1]
    spans = {
        span.name: span
        for span in finished_spans.get_finished_spans()
        if format(span.context.trace_id, "032x") == trace_id
    }
    assert {"POST /api/todos", "todo.create", "publish todos.events.created"} <= set(spans)
    assert spans["todo.create"].parent.span_id == spans["POST /api/todos"].context.span_id
    publish = spans["publish todos.events.created"]
    assert publish.parent.span_id == spans["todo.create"].context.span_id
    assert (message.headers or {})["traceparent"].split("-")[2] == format(
        publish.context.span_id, "016x"
    )


async def test_writes_during_a_nats_outage_are_published_once_it_returns(
    todo_app: StartTodo, jetstream: JetStreamContext, nats_server: NatsServer
) -> None:
    async with todo_app() as client:
        await client.post("/api/todos", json={"text": "before the outage"})
        await wait_for_messages(jetstream, "TODOS", 1)

        nats_server.stop()
        accepted = []
        for n in range(20):
            response = await client.post("/api/todos", json={"text": f"during outage {n}"})
            assert response.status_code == 201
            accepted.append(response.json()["id"])
        assert (await client.get("/readyz")).status_code == 200
        await eventually(lambda: _backlog_is(client, 20), timeout=15)

        nats_server.start()
        messages = await wait_for_messages(jetstream, "TODOS", 21, timeout=30)
        await eventually(lambda: _backlog_is(client, 0), timeout=10)

    ids = [json.loads(m.data)["id"] for m in messages]
    assert sorted(ids[1:]) == sorted(accepted)
    assert len(ids) == len(set(ids)) == 21


async def test_events_republished_after_a_crash_are_dropped_as_duplicates(
    todo_app: StartTodo, jetstream: JetStreamContext, database_url: str
) -> None:
    async with todo_app() as client:
        for n in range(5):
            await client.post("/api/todos", json={"text": f"todo {n}"})
        await wait_for_messages(jetstream, "TODOS", 5)
        await eventually(lambda: _backlog_is(client, 0))

        # The relay published but died before recording it: the rows look unpublished again.
        connection = await asyncpg.connect(database_url)
        await connection.execute("UPDATE todo_outbox SET published_at = NULL")
        await connection.close()
        await client.post("/api/todos", json={"text": "wakes the relay"})
        await eventually(lambda: _backlog_is(client, 0))

    messages = await stream_messages(jetstream, "TODOS")
    assert len(messages) == 6


async def test_two_replicas_relay_without_duplicates_and_keep_each_todos_order(
    todo_app: StartTodo, jetstream: JetStreamContext
) -> None:
    async with todo_app() as first, todo_app() as second:
        replicas = (first, second)
        todos = [
            (await replicas[n % 2].post("/api/todos", json={"text": f"t{n} v0"})).json()
            for n in range(10)
        ]

        async def edit(todo: dict[str, Any]) -> None:
            for version in range(1, 6):
                replica = replicas[version % 2]
                url = f"/api/todos/{todo['id']}"
                assert await replica.put(url, json={"text": f"{todo['text'][:3]} v{version}"})

        await asyncio.gather(*(edit(todo) for todo in todos))
        messages = await wait_for_messages(jetstream, "TODOS", 60, timeout=30)

    assert len(messages) == 60
    assert len({(m.headers or {})["ce-id"] for m in messages}) == 60
    versions: dict[str, list[int]] = defaultdict(list)
    chains: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
    for message in messages:
        data = json.loads(message.data)
        headers = message.headers or {}
        versions[data["id"]].append(int(data["text"].rsplit("v", 1)[1]))
        chains[data["id"]].append((headers.get("ce-predecessorid"), headers["ce-id"]))
    assert all(seen == [0, 1, 2, 3, 4, 5] for seen in versions.values()), versions
    for chain in chains.values():  # each names the one before it, whichever replica relayed it
        assert [predecessor for predecessor, _ in chain] == [None] + [id_ for _, id_ in chain[:-1]]


async def test_the_backlog_drains_while_writes_continue(
    todo_app: StartTodo, jetstream: JetStreamContext
) -> None:
    """The relay shares its event loop with the requests: under a flat-out write load it still
    publishes what was accepted, while the load goes on."""
    accepted = 0
    writing = True

    async def writer(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while writing:
            response = await client.post("/api/todos", json={"text": "under load"})
            assert response.status_code == 201
            accepted += 1

    async with todo_app() as client:
        writers = [asyncio.create_task(writer(client)) for _ in range(16)]
        try:
            await eventually(lambda: _at_least(lambda: accepted, 300), timeout=60)
            target = accepted

            async def caught_up() -> bool:
                assert writers[0].done() is False, "writes must still be going on"
                return (await jetstream.stream_info("TODOS")).state.messages >= target

            await eventually(caught_up, timeout=20, interval=0.1)
        finally:
            writing = False
            await asyncio.gather(*writers)
        await eventually(lambda: _backlog_is(client, 0), timeout=10)


async def _at_least(count: Callable[[], int], minimum: int) -> bool:
    return count() >= minimum


async def test_readiness_names_the_database_problem(todo_settings: TodoSettings) -> None:
    wrong = "postgresql://nobody:wrong@127.0.0.1:5432/test"
    async with serve_app(
        create_app(msgspec.structs.replace(todo_settings, database_url=wrong)),
        ready_path="/healthz",
    ) as client:

        async def names_the_database() -> bool:
            response = await client.get("/readyz")
            return response.status_code == 503 and "database unavailable" in str(response.json())

        await eventually(names_the_database)
        reasons = str((await client.get("/readyz")).json())
        assert "127.0.0.1" not in reasons, "no address for clients"
        assert "5432" not in reasons
        assert (await client.get("/healthz")).status_code == 200
        writes = await client.post("/api/todos", json={"text": "no database"})
        assert writes.status_code == 503
        assert writes.json()["error"] == "database_unavailable"


async def _status(client: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await client.get(path)).status_code == status


async def _metric(client: httpx.AsyncClient, name: str) -> float:
    for line in (await client.get("/metrics")).text.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


async def _backlog_is(client: httpx.AsyncClient, expected: float) -> bool:
    return await _metric(client, "todo_outbox_backlog") == expected
