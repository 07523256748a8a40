"""A batch of events published at once: each event's own outcome, in the batch's order."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.errors import NoRespondersError

from shared_contracts.catalog import TODO_CREATED, TODOS
from shared_contracts.cloudevents import CloudEvent
from shared_contracts.todos import CreateTodo
from shared_runtime.messaging import declare_streams, publish_events
from shared_testkit.nats_server import NatsServer

pytestmark = pytest.mark.integration


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    await declare_streams(client.jetstream(), (TODOS,))
    yield client
    await client.close()


def event(n: int) -> CloudEvent:
    return CloudEvent.new("test.v1", "tests", CreateTodo(text=f"event {n}"))


async def test_every_event_is_stored_once_in_order_and_a_repeat_is_dropped_not_failed(
    nc: Client,
) -> None:
    batch = [(TODO_CREATED.subject, event(n)) for n in range(200)]

    first = await publish_events(nc, batch)
    again = await publish_events(nc, batch[:10])  # republished after a crash: same message ids

    assert [p.event for p in first] == [e for _, e in batch]
    assert all(p.ok for p in first + again)
    js = nc.jetstream()
    assert (await js.stream_info(TODOS.name)).state.messages == 200
    stored = [await js.get_msg(TODOS.name, seq) for seq in (1, 200)]
    assert [(m.headers or {})["ce-id"] for m in stored] == [batch[0][1].id, batch[-1][1].id]


async def test_an_event_no_stream_takes_fails_alone(nc: Client) -> None:
    results = await publish_events(
        nc, [(TODO_CREATED.subject, event(1)), ("nowhere.at.all", event(2))]
    )

    assert results[0].ok
    assert isinstance(results[1].error, NoRespondersError)


async def test_an_empty_batch_publishes_nothing(nc: Client) -> None:
    assert await publish_events(nc, []) == []
