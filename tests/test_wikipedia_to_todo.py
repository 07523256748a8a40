"""svc-wikipedia and svc-todo on a real nats-server and PostgreSQL: a trigger becomes one todo.

Whatever delivers the trigger (a NATS request, a CloudEvent over HTTP, the local scheduler on
several replicas) and however often it arrives, svc-todo ends up with one "Read <url>" todo.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from litestar.testing import AsyncTestClient
from nats.js import JetStreamContext

from shared_contracts.catalog import WIKIPEDIA_REQUESTED
from shared_contracts.cloudevents import CloudEvent
from shared_contracts.wikipedia import WikipediaRequested
from shared_runtime.messaging import publish_event
from shared_testkit.fake_http import FakeHttpServer, Recorded, Reply
from shared_testkit.polling import eventually
from svc_wikipedia.app import create_app
from svc_wikipedia.consumer import DURABLE_NAME
from svc_wikipedia.settings import WikipediaSettings

StartTodo = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
ARTICLE = "/wiki/Event-driven_architecture"


@pytest.fixture
def wikipedia() -> Any:
    """Wikipedia's `Special:Random`, always pointing at the same article."""

    def redirect(request: Recorded) -> Reply:
        return Reply(status=302, headers={"Location": ARTICLE})

    with FakeHttpServer(redirect) as server:
        yield server


@pytest.fixture
def wikipedia_app(
    nats_url: str, wikipedia: Any
) -> Callable[..., AbstractAsyncContextManager[AsyncTestClient[Any]]]:
    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[AsyncTestClient[Any]]:
        settings = WikipediaSettings(
            nats_url=nats_url,
            wikipedia_base_url=wikipedia.url,
            **{"suggest_every_minutes": 0, **overrides},
        )
        async with AsyncTestClient(create_app(settings, clock=_half_past_ten)) as client:

            async def ready() -> bool:
                return (await client.get("/readyz")).status_code == 200

            await eventually(ready, timeout=10, message="svc-wikipedia ready")
            yield client

    return start


def _half_past_ten() -> datetime:
    return datetime(2026, 11, 27, 10, 30, tzinfo=UTC)


def request(event_id: str) -> CloudEvent:
    return CloudEvent.new(
        WIKIPEDIA_REQUESTED.event_type, "/tests", WikipediaRequested(), event_id=event_id
    )


async def todo_texts(todo: httpx.AsyncClient) -> list[str]:
    return [item["text"] for item in (await todo.get("/api/todos")).json()]


async def test_a_request_on_nats_becomes_one_todo_within_two_seconds(
    todo_app: StartTodo, wikipedia_app: Any, wikipedia: Any, jetstream: JetStreamContext
) -> None:
    async with todo_app() as todo, wikipedia_app():
        await publish_event(jetstream, WIKIPEDIA_REQUESTED.subject, request("l2-nats"))

        texts = await eventually(lambda: todo_texts(todo), timeout=2)

    assert texts == [f"Read {wikipedia.url}{ARTICLE}"]


async def test_the_same_trigger_twice_gives_one_todo(
    todo_app: StartTodo, wikipedia_app: Any, jetstream: JetStreamContext
) -> None:
    """Republished without `Nats-Msg-Id`, as after JetStream's duplicate window has passed."""
    event = request("l2-twice")
    headers = {k: v for k, v in event.nats_headers().items() if k != "Nats-Msg-Id"}
    async with todo_app() as todo, wikipedia_app():
        for _ in range(2):
            await jetstream.publish(WIKIPEDIA_REQUESTED.subject, event.data, headers=headers)
        await eventually(lambda: todo_texts(todo), timeout=2)
        await eventually(lambda: _consumed(jetstream, "WIKIPEDIA", DURABLE_NAME, 2))
        await eventually(lambda: _consumed(jetstream, "TODO_COMMANDS", "todo-commands", 1))

        assert len(await todo_texts(todo)) == 1


async def test_a_cloudevent_over_http_becomes_one_todo(
    todo_app: StartTodo, wikipedia_app: Any, wikipedia: Any
) -> None:
    ping = {
        "ce-specversion": "1.0",
        "ce-id": "l2-ping",
        "ce-type": "dev.knative.sources.ping",
        "ce-source": "/apis/v1/namespaces/default/pingsources/hourly",
    }
    async with todo_app() as todo, wikipedia_app() as function:
        assert (await function.post("/", headers=ping)).status_code == 202

        texts = await eventually(lambda: todo_texts(todo), timeout=2)

    assert texts == [f"Read {wikipedia.url}{ARTICLE}"]


async def test_two_scheduling_replicas_give_one_todo_per_slot(
    todo_app: StartTodo, wikipedia_app: Any, jetstream: JetStreamContext
) -> None:
    async with (
        todo_app() as todo,
        wikipedia_app(suggest_every_minutes=60),
        wikipedia_app(suggest_every_minutes=60),
    ):
        await eventually(lambda: todo_texts(todo), timeout=2)
        await eventually(lambda: _consumed(jetstream, "TODO_COMMANDS", "todo-commands", 1))

        assert len(await todo_texts(todo)) == 1


async def _consumed(js: JetStreamContext, stream: str, consumer: str, at_least: int) -> bool:
    """The consumer was handed `at_least` messages of the stream and acknowledged them all."""
    info = await js.consumer_info(stream, consumer)
    return info.delivered.stream_seq >= at_least and info.num_ack_pending == 0
