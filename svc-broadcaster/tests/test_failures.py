"""A failing webhook: retried with back-off, dead-lettered when hopeless, replayed when fixed."""

from __future__ import annotations

import asyncio
import signal
import time
from typing import TYPE_CHECKING

import httpx

from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually
from shared_testkit.webhook_sink import Reply, WebhookSink

if TYPE_CHECKING:
    from conftest import Bus, Fleet


async def test_webhook_down_for_a_while_gets_every_event_once_with_retries_counted(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    webhook_sink.answer(Reply(500, body=b"oops"))
    replicas = [fleet.start(), fleet.start()]
    await fleet.ready(*replicas)
    events = [await bus.created(f"todo {n}") for n in range(20)]

    async def retrying() -> bool:
        return len(webhook_sink.received) >= 60

    await eventually(retrying, timeout=20)
    webhook_sink.answer(Reply(200))

    async def all_delivered() -> bool:
        return set(webhook_sink.accepted_keys()) == {e.id for e in events}

    await eventually(all_delivered, timeout=30)
    assert all(count == 1 for count in webhook_sink.accepted_keys().values())
    failures = sum(1 for call in webhook_sink.received if call.status == 500)

    async def counted(name: str, **labels: str) -> float:
        return sum(await asyncio.gather(*(r.metric(name, **labels) for r in replicas)))

    async def metrics_settled() -> bool:
        return await counted("broadcaster_messages_processed_total", outcome="sent") == 20

    await eventually(metrics_settled, timeout=5)
    assert await counted("broadcaster_webhook_errors_total", kind="server_error") == failures
    assert await counted("broadcaster_messages_processed_total", outcome="retried") == failures
    assert await counted("broadcaster_messages_processed_total", outcome="dead_lettered") == 0
    assert await counted("broadcaster_webhook_latency_seconds_count") == len(webhook_sink.received)
    assert await bus.dead_letters() == []


async def test_rate_limited_call_waits_for_retry_after(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    webhook_sink.answer_with(
        lambda path, headers, body: (
            Reply(429, {"Retry-After": "1"}) if not webhook_sink.received else Reply(200)
        )
    )
    replica = fleet.start()
    await fleet.ready(replica)
    event = await bus.created("slow down")

    async def delivered() -> bool:
        return webhook_sink.accepted_keys()[event.id] == 1

    await eventually(delivered, timeout=15)
    first, second = webhook_sink.received
    assert (first.status, second.status) == (429, 200)
    assert second.at - first.at >= 1.0
    assert await replica.metric("broadcaster_webhook_errors_total", kind="rate_limited") == 1


async def test_rejected_and_malformed_events_are_dead_lettered_and_replay_delivers_once(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    webhook_sink.answer_with(
        lambda path, headers, body: (
            Reply(400, body=b"invalid_payload") if b"rejected" in body else Reply(200)
        )
    )
    replica = fleet.start()
    await fleet.ready(replica)
    rejected = await bus.created("rejected by the chat")
    await bus.js.publish(
        "todos.events.created",
        b'{"text": "no id, no dates"}',
        headers={
            "ce-specversion": "1.0",
            "ce-id": "malformed-1",
            "ce-type": "todo.created.v1",
            "ce-source": "/tests",
            "Nats-Msg-Id": "malformed-1",
        },
    )
    fine = [await bus.created(f"fine {n}") for n in range(5)]

    async def fine_delivered_and_two_dead_letters() -> bool:
        delivered = {e.id for e in fine} <= set(webhook_sink.accepted_keys())
        return delivered and len(await bus.dead_letters()) == 2

    await eventually(fine_delivered_and_two_dead_letters, timeout=20)
    letters = {letter.headers["ce-id"]: letter for letter in await bus.dead_letters()}
    assert letters[rejected.id].headers["dlq-reason"] == "webhook answered 400: invalid_payload"
    assert letters[rejected.id].headers["dlq-deliveries"] == "1"
    assert (
        letters["malformed-1"]
        .headers["dlq-reason"]
        .startswith("undecodable event: todo.created.v1 data is invalid: id: Field required")
    )
    assert (
        await replica.metric("broadcaster_messages_processed_total", outcome="dead_lettered") == 2
    )

    webhook_sink.answer(Reply(200))
    await asyncio.gather(fleet.replay(), fleet.replay())  # two at once: still one effect each

    async def rejected_delivered() -> bool:
        return webhook_sink.accepted_keys()[rejected.id] == 1

    await eventually(rejected_delivered, timeout=15)
    assert webhook_sink.accepted()[-1].json() == {
        "user": "bot",
        "message": "A todo was created: rejected by the chat",
    }

    async def malformed_back_in_dlq() -> list[str]:
        return [letter.headers["ce-id"] for letter in await bus.dead_letters()]

    assert await eventually(malformed_back_in_dlq, timeout=10) == ["malformed-1"]
    assert await fleet.replay() == {
        "replayed": 1,
        "already_replayed": 0,
        "already_delivered": 0,
        "unroutable": 0,
    }
    assert await eventually(malformed_back_in_dlq, timeout=10) == ["malformed-1"]
    assert webhook_sink.accepted_keys()[rejected.id] == 1
    assert len(webhook_sink.accepted()) == len(fine) + 1


async def test_replay_skips_events_the_ledger_already_records_as_sent(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    """A dead letter for an event that did get through (e.g. after a timeout) is not resent."""
    replica = fleet.start()
    await fleet.ready(replica)
    event = await bus.created("delivered already")

    async def delivered() -> bool:
        return webhook_sink.accepted_keys()[event.id] == 1

    await eventually(delivered, timeout=10)
    headers = {**event.nats_headers(), "dlq-reason": "webhook timed out", "dlq-deliveries": "10"}
    headers.pop("Nats-Msg-Id")
    await bus.js.publish("dlq.broadcaster", event.data, headers=headers)
    assert await fleet.replay() == {
        "replayed": 0,
        "already_replayed": 0,
        "already_delivered": 1,
        "unroutable": 0,
    }
    assert await bus.dead_letters() == []
    assert webhook_sink.accepted_keys()[event.id] == 1


async def test_sigterm_finishes_in_flight_deliveries_and_acks_them(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus
) -> None:
    def slow_webhook(path: str, headers: dict[str, str], body: bytes) -> Reply:
        time.sleep(1.0)  # a slow chat API, so deliveries are in flight when SIGTERM arrives
        return Reply(200)

    webhook_sink.answer_with(slow_webhook)
    replica = fleet.start(BROADCASTER_CONCURRENCY="4")
    await fleet.ready(replica)
    events = [await bus.created(f"todo {n}") for n in range(8)]

    async def in_flight() -> bool:
        return len(webhook_sink.received) >= 1

    await eventually(in_flight, timeout=10)
    # uvicorn re-raises the SIGTERM it captured once its graceful shutdown is complete
    assert await asyncio.to_thread(replica.terminate) == -signal.SIGTERM
    assert "Application shutdown complete." in replica.output
    finished = webhook_sink.received
    assert finished, "the in-flight calls were completed before exiting"
    assert "finishing messages in hand" in replica.output

    webhook_sink.answer(Reply(200))
    successor = fleet.start()
    await fleet.ready(successor)

    async def all_delivered() -> bool:
        return set(webhook_sink.accepted_keys()) == {e.id for e in events}

    await eventually(all_delivered, timeout=20)
    assert all(count == 1 for count in webhook_sink.accepted_keys().values())
    assert await successor.metric("broadcaster_messages_processed_total", outcome="duplicate") == 0


async def test_serves_health_while_nats_is_unreachable_and_binds_once_it_answers(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus, nats_server: NatsServer
) -> None:
    await asyncio.to_thread(nats_server.stop)
    replica = fleet.start()

    async def alive() -> bool:
        async with httpx.AsyncClient() as client:
            return (await client.get(replica.url("/healthz"), timeout=2)).status_code == 200

    await eventually(alive, timeout=30)
    readiness = await replica.readiness()
    assert readiness.status_code == 503
    assert readiness.json()["reasons"] == ["nats not connected"]

    await asyncio.to_thread(nats_server.start)
    await fleet.ready(replica)
    event = await bus.created("after the outage")
    await eventually(lambda: _accepted(webhook_sink, event.id), timeout=10)


async def _accepted(sink: WebhookSink, event_id: str) -> bool:
    return event_id in sink.accepted_keys()
