"""The shared delivery path against a real nats-server: pulls, acks, retries, dead letters,
shutdown and reconnects, as every consumer of the system relies on them."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta

import msgspec
import nats
import pytest
from nats.aio.client import Client
from nats.js.errors import NotFoundError

from shared_contracts.catalog import (
    DLQ,
    DLQ_REASON_HEADER,
    DLQ_SUBJECT_HEADER,
    Consumer,
    DeliverFrom,
    Stream,
)
from shared_contracts.cloudevents import CloudEvent
from shared_runtime.delivery import (
    Backoff,
    ConsumerOptions,
    Delivery,
    DurableConsumer,
    Reject,
    Retry,
)
from shared_runtime.messaging import declare_streams, publish_event
from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually

pytestmark = pytest.mark.integration

WORK = Stream("WORK", ("work.>",), "test work", max_age=timedelta(hours=1))
SPEC = Consumer(
    "worker",
    WORK,
    "work.>",
    "test consumer",
    ack_wait=timedelta(seconds=20),
    max_deliver=3,
    max_ack_pending=1000,
)
FAST = ConsumerOptions(concurrency=8, backoff=Backoff(base_seconds=0.05, max_seconds=0.2))
Handler = Callable[[Delivery], Awaitable[str]]


class Item(msgspec.Struct):
    n: int


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    await declare_streams(client.jetstream(), (WORK, DLQ))
    yield client
    await client.close()


class Consumers:
    """Starts consumers on the test's connection, counts their outcomes, stops them after."""

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.outcomes: Counter[str] = Counter()
        self.running: list[DurableConsumer] = []

    async def start(self, handler: Handler, options: ConsumerOptions = FAST) -> DurableConsumer:
        consumer = DurableConsumer(
            self.nc, SPEC, handler, options, count=lambda outcome: self.outcomes.update([outcome])
        )
        await consumer.start()
        self.running.append(consumer)
        return consumer

    async def publish(self, count: int) -> list[str]:
        ids = []
        for n in range(count):
            event = CloudEvent.new("work.v1", "/tests", Item(n=n))
            await publish_event(self.nc.jetstream(), "work.item", event)
            ids.append(event.id)
        return ids


@pytest.fixture
async def consumers(nc: Client) -> AsyncIterator[Consumers]:
    started = Consumers(nc)
    yield started
    for consumer in started.running:
        await consumer.stop(grace_seconds=0.5)


async def test_every_message_is_handled_once_within_the_concurrency_limit(
    consumers: Consumers,
) -> None:
    handled: Counter[str] = Counter()
    in_hand = peak = 0

    async def handler(delivery: Delivery) -> str:
        nonlocal in_hand, peak
        in_hand += 1
        peak = max(peak, in_hand)
        await asyncio.sleep(0.001)
        in_hand -= 1
        handled[delivery.event.id] += 1
        return "done"

    await consumers.start(handler)
    ids = await consumers.publish(500)
    await eventually(lambda: _async(consumers.outcomes["done"] == 500), timeout=20)
    assert set(handled) == set(ids)
    assert set(handled.values()) == {1}
    assert 1 < peak <= FAST.concurrency
    info = await consumers.nc.jetstream().consumer_info(WORK.name, SPEC.durable)
    await eventually(lambda: _ack_pending_is_zero(consumers.nc), timeout=5)
    assert info.num_redelivered == 0


async def test_a_lone_message_on_an_idle_consumer_is_handled_at_once(consumers: Consumers) -> None:
    arrived: asyncio.Queue[float] = asyncio.Queue()

    async def handler(delivery: Delivery) -> str:
        arrived.put_nowait(time.monotonic())
        return "done"

    await consumers.start(handler)
    for _ in range(3):
        sent = time.monotonic()
        await consumers.publish(1)
        received = await asyncio.wait_for(arrived.get(), 5)
        # no waiting for a batch to fill or for a pull request to expire
        assert received - sent < 0.5


async def test_a_retry_is_redelivered_and_a_rejection_dead_lettered_at_once(
    consumers: Consumers,
) -> None:
    attempts: Counter[int] = Counter()

    async def handler(delivery: Delivery) -> str:
        n = msgspec.json.decode(delivery.event.data, type=Item).n
        attempts[n] += 1
        if n == 0 and delivery.deliveries < 2:
            raise Retry("not yet")
        if n == 1:
            raise Reject("never")
        return "done"

    await consumers.start(handler)
    ids = await consumers.publish(2)
    await eventually(lambda: _async(consumers.outcomes["done"] == 1), timeout=10)
    await eventually(lambda: _async(consumers.outcomes["dead_lettered"] == 1), timeout=10)
    assert attempts == {0: 2, 1: 1}
    assert consumers.outcomes["retried"] == 1
    letter = await consumers.nc.jetstream().get_last_msg(DLQ.name, "dlq.worker")
    headers = letter.headers or {}
    assert headers["ce-id"] == ids[1]
    assert headers[DLQ_REASON_HEADER] == "never"
    assert headers[DLQ_SUBJECT_HEADER] == "work.item"


async def test_a_message_that_keeps_failing_is_dead_lettered_after_max_deliver(
    consumers: Consumers,
) -> None:
    async def handler(delivery: Delivery) -> str:
        raise RuntimeError("always broken")

    await consumers.start(handler)
    await consumers.publish(1)
    await eventually(lambda: _async(consumers.outcomes["dead_lettered"] == 1), timeout=10)
    letter = await consumers.nc.jetstream().get_last_msg(DLQ.name, "dlq.worker")
    reason = (letter.headers or {})[DLQ_REASON_HEADER]
    assert reason == "gave up after 3 deliveries: handler failed: RuntimeError('always broken')"


async def test_a_handler_told_its_last_delivery_is_the_one_dead_lettered(
    consumers: Consumers,
) -> None:
    told: list[tuple[int, bool]] = []

    async def handler(delivery: Delivery) -> str:
        told.append((delivery.deliveries, delivery.final))
        raise Retry("still broken")

    await consumers.start(handler)
    await consumers.publish(1)
    await eventually(lambda: _async(consumers.outcomes["dead_lettered"] == 1), timeout=10)
    assert told == [(1, False), (2, False), (3, True)]


async def test_a_message_set_aside_to_wait_for_another_lets_that_one_be_pulled(
    consumers: Consumers,
) -> None:
    """With room for one message, the first waits (set aside) until the second is handled: it
    would wait forever if waiting took the only place."""
    second_handled = asyncio.Event()

    async def handler(delivery: Delivery) -> str:
        if msgspec.json.decode(delivery.event.data, type=Item).n == 0:
            async with delivery.set_aside():
                await second_handled.wait()
            return "waited"
        second_handled.set()
        return "done"

    await consumers.start(handler, ConsumerOptions(concurrency=1, backoff=FAST.backoff))
    await consumers.publish(2)
    await eventually(lambda: _async(consumers.outcomes == {"done": 1, "waited": 1}), timeout=10)
    info = await consumers.nc.jetstream().consumer_info(WORK.name, SPEC.durable)
    assert info.num_redelivered == 0


async def test_stop_hands_a_slow_message_back_for_prompt_redelivery(
    nc: Client, consumers: Consumers
) -> None:
    never = asyncio.Event()

    async def stuck(delivery: Delivery) -> str:
        await never.wait()
        return "done"

    first = await consumers.start(stuck)
    await consumers.publish(1)
    await eventually(lambda: _ack_pending(nc, 1), timeout=5)
    started = time.monotonic()
    await first.stop(grace_seconds=0.2)
    assert time.monotonic() - started < 2

    async def done(delivery: Delivery) -> str:
        return "done"

    await consumers.start(done)
    # well within the 20 s ack wait: the message was handed back, not left to time out
    await eventually(lambda: _async(consumers.outcomes["done"] == 1), timeout=5)


async def test_consuming_continues_after_the_server_restarts(
    nats_server: NatsServer, consumers: Consumers
) -> None:
    async def handler(delivery: Delivery) -> str:
        return "done"

    await consumers.start(handler)
    await consumers.publish(5)
    await eventually(lambda: _async(consumers.outcomes["done"] == 5), timeout=10)
    await asyncio.to_thread(nats_server.restart)
    await eventually(lambda: _async(consumers.nc.is_connected), timeout=10)
    await consumers.publish(5)
    await eventually(lambda: _async(consumers.outcomes["done"] == 10), timeout=20)


async def test_an_existing_consumer_keeps_its_position_whatever_a_new_start_asks(
    nc: Client, consumers: Consumers
) -> None:
    async def handler(delivery: Delivery) -> str:
        return "done"

    first = await consumers.start(handler)
    await first.stop()
    await consumers.publish(2)  # while nobody consumes
    await consumers.start(handler, ConsumerOptions(deliver_from=DeliverFrom.NEW))
    await eventually(lambda: _async(consumers.outcomes["done"] == 2), timeout=10)


async def test_binding_without_declaring_needs_the_consumer_to_exist(nc: Client) -> None:
    async def handler(delivery: Delivery) -> str:
        return "done"

    consumer = DurableConsumer(nc, SPEC, handler, ConsumerOptions(declare=False))
    with pytest.raises(NotFoundError):
        await consumer.start()


async def _async(value: bool) -> bool:
    return value


async def _ack_pending(nc: Client, count: int) -> bool:
    info = await nc.jetstream().consumer_info(WORK.name, SPEC.durable)
    return info.num_ack_pending == count


async def _ack_pending_is_zero(nc: Client) -> bool:
    return await _ack_pending(nc, 0)
