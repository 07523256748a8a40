"""The local schedule: one suggestion per slot, however many instances run or restart."""

from __future__ import annotations

from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from shared_testkit.polling import eventually
from svc_wikipedia.app import create_app
from svc_wikipedia.consumer import DURABLE_NAME
from svc_wikipedia.scheduler import SOURCE, slot_id, slot_start
from svc_wikipedia.suggestions import command_id

HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("now", "every", "expected"),
    [
        (datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC), HOUR, "schedule:2026-11-27T10:00Z"),
        (datetime(2026, 11, 27, 10, 59, 59, tzinfo=UTC), HOUR, "schedule:2026-11-27T10:00Z"),
        (
            datetime(2026, 11, 27, 10, 44, tzinfo=UTC),
            timedelta(minutes=15),
            "schedule:2026-11-27T10:30Z",
        ),
        (
            datetime(2026, 11, 27, 12, 30, tzinfo=timezone(timedelta(hours=2))),
            HOUR,
            "schedule:2026-11-27T10:00Z",
        ),
    ],
    ids=["slot-start", "slot-end", "quarter-hours", "other-time-zone"],
)
def test_every_instance_names_a_slot_the_same_way(
    now: datetime, every: timedelta, expected: str
) -> None:
    assert slot_id(slot_start(now, every)) == expected


async def test_two_instances_in_the_same_slot_publish_one_command(
    make_settings: Any, nats_url: str, wikipedia: Any, stored_commands: Any, js: Any
) -> None:
    settings = make_settings(nats_url=nats_url, suggest_every_minutes=60)
    half_past_ten = datetime(2026, 11, 27, 10, 30, tzinfo=UTC)
    async with AsyncExitStack() as instances:
        for _ in range(2):
            app = create_app(settings, clock=lambda: half_past_ten)
            await instances.enter_async_context(AsyncTestClient(app))

        commands = await eventually(stored_commands)
        await eventually(lambda: _requests_handled(js))

    assert len(await stored_commands()) == 1
    assert commands[0].text == f"Read {wikipedia.url}/wiki/Article_1"
    assert commands[0].headers["ce-id"] == command_id(f"{SOURCE}#schedule:2026-11-27T10:00Z")


async def test_a_restart_in_the_same_slot_publishes_nothing_new(
    make_settings: Any, nats_url: str, stored_commands: Any, js: Any
) -> None:
    settings = make_settings(nats_url=nats_url, suggest_every_minutes=60)
    for minute in (5, 50):
        clock_time = datetime(2026, 11, 27, 10, minute, tzinfo=UTC)
        async with AsyncTestClient(create_app(settings, clock=lambda t=clock_time: t)):
            await eventually(lambda: _requests_handled(js))

    assert len(await stored_commands()) == 1


async def _requests_handled(js: Any) -> bool:
    """Every request the scheduler stored was delivered to the consumer and acknowledged."""
    stream = await js.stream_info("WIKIPEDIA")
    consumer = await js.consumer_info("WIKIPEDIA", DURABLE_NAME)
    return bool(
        stream.state.messages
        and consumer.delivered.stream_seq == stream.state.last_seq
        and consumer.num_ack_pending == 0
    )
