"""Each todo's events reach the chat in the order they happened, whichever replica handles them
and however often a call fails: an event that names its predecessor (`ce-predecessorid`) waits
for it to be sent or given up on, without spending deliveries of its own."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from typing import TYPE_CHECKING

from shared_contracts.cloudevents import CloudEvent
from shared_testkit.polling import eventually
from shared_testkit.webhook_sink import Reply, WebhookSink

if TYPE_CHECKING:
    from conftest import Bus, Fleet

UNSEEN_SECONDS = 2 * 4
"""How long an event waits for a predecessor nobody holds: twice the tests' ack wait (4 s)."""


def _failing_first(webhook_sink: WebhookSink, events: set[str], times: int) -> None:
    """The chat answers 503 to the first `times` calls about each of `events`."""
    failures: dict[str, int] = {}

    def answer(path: str, headers: dict[str, str], body: bytes) -> Reply:
        key = headers.get("idempotency-key", "")
        if key in events and failures.get(key, 0) < times:
            failures[key] = failures.get(key, 0) + 1
            return Reply(503)
        return Reply(200)

    webhook_sink.answer_with(answer)


def _accepted_order(webhook_sink: WebhookSink) -> list[str]:
    return [call.idempotency_key or "" for call in webhook_sink.accepted()]


async def test_a_done_mark_waits_for_its_todos_creation_through_the_creations_retries(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    replicas = [fleet.start(), fleet.start()]
    await fleet.ready(*replicas)
    created = await bus.created("water the plants")
    _failing_first(webhook_sink, {created.id}, times=3)
    done = await bus.updated("water the plants", done=True, after=created)

    async def both_announced() -> bool:
        return set(_accepted_order(webhook_sink)) == {created.id, done.id}

    await eventually(both_announced, timeout=30)
    assert _accepted_order(webhook_sink) == [created.id, done.id]
    calls_about_done = [c for c in webhook_sink.received if c.idempotency_key == done.id]
    assert len(calls_about_done) == 1, "the done-mark waited in hand, it was not retried"

    async def waits_counted() -> bool:
        count = "broadcaster_order_wait_seconds_count"
        waits = await asyncio.gather(*(r.metric(count, outcome="in_order") for r in replicas))
        return sum(waits) == 1

    await eventually(waits_counted, timeout=5)


async def test_every_todos_events_reach_the_chat_in_order_across_replicas_and_failures(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    """Three replicas handle 40 todos' create → rename → done → delete at once, while one call
    in three fails at first: each todo's four announcements arrive in that order, once each."""
    calls = itertools.count()
    webhook_sink.answer_with(
        lambda path, headers, body: Reply(503) if next(calls) % 3 == 0 else Reply(200)
    )
    replicas = [fleet.start(), fleet.start(), fleet.start()]
    await fleet.ready(*replicas)

    async def history(n: int) -> list[CloudEvent]:
        created = await bus.created(f"todo {n}")
        renamed = await bus.updated(f"todo {n}!", done=False, after=created)
        done = await bus.updated(f"todo {n}!", done=True, after=renamed)
        return [created, renamed, done, await bus.deleted(after=done)]

    histories = [await history(n) for n in range(40)]
    everything = {event.id for events in histories for event in events}

    async def all_announced() -> bool:
        return set(webhook_sink.accepted_keys()) == everything

    await eventually(all_announced, timeout=60)
    assert all(count == 1 for count in webhook_sink.accepted_keys().values())
    position = {key: n for n, key in enumerate(_accepted_order(webhook_sink))}
    for events in histories:
        order = [position[event.id] for event in events]
        assert order == sorted(order), f"out of order: {[event.id for event in events]}"


async def test_a_predecessor_given_up_on_lets_the_next_event_go_at_once(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    """A creation the chat rejects (dead-lettered) does not hold its todo's next event back."""
    webhook_sink.answer_with(
        lambda path, headers, body: Reply(400) if b"rejected" in body else Reply(200)
    )
    replica = fleet.start(BROADCASTER_ACK_WAIT_SECONDS="30")  # a predecessor unseen: 60 s wait
    await fleet.ready(replica)
    created = await bus.created("rejected by the chat")
    renamed = await bus.updated("fine now", done=False, after=created)

    async def renamed_announced() -> bool:
        return webhook_sink.accepted_keys()[renamed.id] == 1

    await eventually(renamed_announced, timeout=20)
    assert [letter.headers["ce-id"] for letter in await bus.dead_letters()] == [created.id]


async def test_a_predecessor_nobody_holds_delays_the_next_event_for_a_bounded_time(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    """An event whose predecessor never comes (removed from the stream, or older than this
    consumer) goes out after twice the ack wait, counted as out of order."""
    replica = fleet.start()
    await fleet.ready(replica)
    never_published = CloudEvent(id=str(uuid.uuid4()), type="todo.created.v1", source="/tests")
    published = time.time()
    orphan = await bus.updated("its creation is gone", done=True, after=never_published)

    async def announced() -> bool:
        return webhook_sink.accepted_keys()[orphan.id] == 1

    await eventually(announced, timeout=UNSEEN_SECONDS + 20)
    [call] = [c for c in webhook_sink.accepted() if c.idempotency_key == orphan.id]
    assert call.at - published >= UNSEEN_SECONDS - 1, "it waited for its predecessor first"
    unseen = "broadcaster_order_wait_seconds_count"
    assert await replica.metric(unseen, outcome="predecessor_unseen") == 1
