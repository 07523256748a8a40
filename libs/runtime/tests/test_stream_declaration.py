"""Local runs declare streams from the catalog; a stream the deployment declared differently is
never weakened by a service that starts with DECLARE_STREAMS=true."""

from __future__ import annotations

from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import RetentionPolicy, StreamConfig

from shared_contracts.catalog import TODO_COMMANDS, TODOS
from shared_runtime.messaging import declare_streams
from shared_testkit.nats_server import NatsServer

pytestmark = pytest.mark.integration


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url)
    yield client
    await client.close()


async def test_a_missing_stream_is_created_as_the_catalog_describes_it(nc: Client) -> None:
    js = nc.jetstream()
    await declare_streams(js, (TODOS, TODO_COMMANDS))
    config = (await js.stream_info(TODO_COMMANDS.name)).config
    assert config.subjects == ["todos.commands.>"]
    assert config.retention == RetentionPolicy.LIMITS
    assert config.max_age == TODO_COMMANDS.max_age.total_seconds()
    assert config.duplicate_window == TODO_COMMANDS.duplicate_window.total_seconds()
    assert config.description == TODO_COMMANDS.description


async def test_an_existing_stream_keeps_what_the_deployment_gave_it(nc: Client) -> None:
    js = nc.jetstream()
    deployed = StreamConfig(
        name=TODOS.name,
        subjects=["todos.archive.>"],
        max_age=TODOS.max_age.total_seconds() * 2,
        max_msgs=1_000_000,
        duplicate_window=7200,
    )
    await js.add_stream(deployed)
    await declare_streams(js, (TODOS,))
    config = (await js.stream_info(TODOS.name)).config
    assert config.subjects == ["todos.archive.>", "todos.events.>"]  # only what was missing
    assert config.max_age == deployed.max_age
    assert config.max_msgs == 1_000_000
    assert config.duplicate_window == 7200
