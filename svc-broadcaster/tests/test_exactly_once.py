"""Six replicas, a thousand events, two replicas killed -9 and nats-server restarted: every event
reaches the chat once."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import TYPE_CHECKING

from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually
from shared_testkit.webhook_sink import WebhookSink

if TYPE_CHECKING:
    from conftest import Bus, Fleet

EVENTS = 1000
REPLICAS = 6


def sender_pid(user_agent: str) -> int:
    """The User-Agent names the replica: `svc-broadcaster/0.1 (<host>-<pid>-<nonce>)`."""
    return int(user_agent.rstrip(")").rsplit("-", 2)[-2])


async def test_six_replicas_deliver_every_event_once_through_kills_and_a_nats_restart(
    fleet: Fleet, webhook_sink: WebhookSink, bus: Bus, nats_server: NatsServer
) -> None:
    # ~40 calls/s per replica, so the kills and the restart land in the middle of the run; a
    # generous webhook timeout, since a call that times out is ambiguous and is sent again.
    throttled = {
        "WEBHOOK_RATE_PER_SECOND": "40",
        "WEBHOOK_RATE_BURST": "5",
        "WEBHOOK_TIMEOUT_SECONDS": "10",
        "BROADCASTER_ACK_WAIT_SECONDS": "12",
        "LOG_LEVEL": "WARNING",
    }
    replicas = [fleet.start(**throttled) for _ in range(REPLICAS)]
    await fleet.ready(*replicas, timeout=60)
    expected = {(await bus.created(f"todo number {n}")).id for n in range(EVENTS)}

    def delivered_at_least(count: int) -> object:
        async def probe() -> bool:
            return len(webhook_sink.accepted_keys()) >= count

        return probe

    await eventually(delivered_at_least(EVENTS // 4), timeout=30)
    victims, survivors = replicas[:2], replicas[2:]
    for victim in victims:
        victim.kill()

    await eventually(delivered_at_least(EVENTS // 2), timeout=30)
    await asyncio.to_thread(nats_server.stop)

    async def not_ready() -> bool:
        return (await survivors[0].readiness()).status_code == 503

    await eventually(not_ready, timeout=10)
    await asyncio.to_thread(nats_server.start)

    async def everything_delivered() -> bool:
        return set(webhook_sink.accepted_keys()) == expected

    await eventually(everything_delivered, timeout=60, interval=0.2)
    await fleet.ready(*survivors)

    calls = webhook_sink.received
    assert all(call.status == 200 for call in calls)
    assert {call.json()["message"] for call in calls} == {
        f"A todo was created: todo number {n}" for n in range(EVENTS)
    }
    # Calls repeated for one event id can only come from the crash window (the webhook answered,
    # the replica was killed before recording "sent"), never from two live replicas; the receiver
    # de-duplicates those by Idempotency-Key, so each event has exactly one effect.
    per_event = Counter(call.idempotency_key for call in calls)
    repeated = {key for key, count in per_event.items() if count > 1}
    killed = {victim.process.pid for victim in victims}
    for key in repeated:
        first = next(call for call in calls if call.idempotency_key == key)
        assert sender_pid(first.headers["user-agent"]) in killed, (
            f"{key} sent twice by live replicas"
        )
        assert per_event[key] == 2
    print(f"{len(calls)} calls for {EVENTS} events; {len(repeated)} repeated after a kill -9")
