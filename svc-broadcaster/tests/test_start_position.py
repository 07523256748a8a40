"""A new destination (a broadcaster with a new durable) hears what happens from now on, not the
stream's history, unless asked to replay; a restarted one continues where it stopped."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shared_testkit.polling import eventually
from shared_testkit.webhook_sink import WebhookSink

if TYPE_CHECKING:
    from conftest import Bus, Fleet


async def test_a_new_destination_starts_with_new_events(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    history = [await bus.created(f"old news {n}") for n in range(3)]
    replica = fleet.start()
    await fleet.ready(replica)
    fresh = await bus.created("happening now")

    async def fresh_delivered() -> bool:
        return fresh.id in webhook_sink.accepted_keys()

    await eventually(fresh_delivered, timeout=10)
    assert not {e.id for e in history} & set(webhook_sink.accepted_keys())


async def test_start_at_all_replays_the_history_and_a_restart_continues(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    history = [await bus.created(f"old news {n}") for n in range(3)]
    first = fleet.start(BROADCASTER_START_AT="all")
    await fleet.ready(first)

    async def history_delivered() -> bool:
        return {e.id for e in history} <= set(webhook_sink.accepted_keys())

    await eventually(history_delivered, timeout=10)
    first.terminate()
    missed = await bus.created("while it was down")
    second = fleet.start(BROADCASTER_START_AT="new")  # an existing durable keeps its position
    await fleet.ready(second)

    async def missed_delivered() -> bool:
        return missed.id in webhook_sink.accepted_keys()

    await eventually(missed_delivered, timeout=10)
    assert all(count == 1 for count in webhook_sink.accepted_keys().values())
