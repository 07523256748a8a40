"""The shared durable pull consumer on `todos.events.>` and what happens to each event.

Built on nats-py's `pull_subscribe_bind` rather than FastStream's pull subscriber because every
decision here is per message and needs the raw controls: `nak(delay)` with our own back-off (or a
429's `Retry-After`), `term` after dead-lettering, `in_progress` while a slow call is under way,
the delivery count from the metadata, and a fetch loop we stop ourselves on SIGTERM while
in-flight deliveries finish and ack. Every replica binds the same durable consumer, so JetStream
hands each event to one replica at a time; the ledger covers the rest (redeliveries after a crash).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable
from dataclasses import dataclass

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared_contracts.catalog import DLQ, TODOS
from shared_contracts.cloudevents import InvalidEvent
from shared_runtime.messaging import dead_letter, declare_streams
from shared_runtime.telemetry import context_from
from svc_broadcaster.events import Announcement, announcement_for
from svc_broadcaster.ledger import (
    AlreadySent,
    Claimed,
    DeliveryLedger,
    HeldElsewhere,
    open_bucket,
)
from svc_broadcaster.metrics import CONSUMER_ACK_PENDING, CONSUMER_PENDING, MESSAGES_PROCESSED
from svc_broadcaster.settings import BroadcasterSettings
from svc_broadcaster.webhook import Reject, Retry, Sent, Webhook

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

DLQ_SUBJECT_HEADER = "dlq-subject"
"""Added to dead letters so a replay knows where the message came from."""
DEAD_LETTER_HEADROOM = 3
"""Deliveries the consumer allows beyond ours, so a failed DLQ publish still gets another go."""
FETCH_SECONDS = 1.0
MONITOR_SECONDS = 5.0


@dataclass(frozen=True)
class Binding:
    subscription: JetStreamContext.PullSubscription
    ledger: DeliveryLedger


class Broadcaster:
    def __init__(
        self,
        settings: BroadcasterSettings,
        nc: Client,
        webhook: Webhook,
        holder: str,
    ) -> None:
        self._settings = settings
        self._nc = nc
        self._js = nc.jetstream()
        self._webhook = webhook
        self._holder = holder
        self._binding: Binding | None = None
        self._stopping = asyncio.Event()
        self._deliveries: set[asyncio.Task[None]] = set()
        self._in_flight: set[str] = set()
        self._loops: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._loops = [
            asyncio.create_task(self._fetch_loop(), name="broadcaster-fetch"),
            asyncio.create_task(self._monitor_loop(), name="broadcaster-monitor"),
        ]

    async def stop(self) -> None:
        """Stop fetching, let in-flight deliveries finish and ack, then return."""
        self._stopping.set()
        await asyncio.gather(*self._loops, return_exceptions=True)
        if self._deliveries:
            log.info("finishing in-flight deliveries", extra={"count": len(self._deliveries)})
            await asyncio.gather(*self._deliveries, return_exceptions=True)
        with contextlib.suppress(NatsError, asyncio.TimeoutError):
            if self._binding is not None:
                # Messages still queued in it are left to JetStream's redelivery; without this,
                # draining the connection would wait for them to be consumed.
                await self._binding.subscription.unsubscribe()
            await self._nc.flush(timeout=5)  # the acks above reach the server before we exit

    async def readiness(self) -> str | None:
        if not self._nc.is_connected:
            return "nats not connected"
        if self._binding is None:
            return f"not bound to consumer {self._settings.broadcaster_durable}"
        return await self._refresh_consumer_state(self._binding)

    async def _bind(self) -> Binding:
        s = self._settings
        if s.declare_streams:
            await declare_streams(self._js, (TODOS, DLQ))
        kv = await open_bucket(
            self._js,
            s.broadcaster_dedup_bucket,
            s.broadcaster_dedup_ttl_hours * 3600,
            s.declare_streams,
        )
        if s.declare_streams:  # in Kubernetes a NACK resource declares it, with the same settings
            await self._js.add_consumer(
                TODOS.name,
                ConsumerConfig(
                    name=s.broadcaster_durable,
                    durable_name=s.broadcaster_durable,
                    filter_subject=TODOS.subjects[0],
                    deliver_policy=DeliverPolicy.ALL,
                    ack_policy=AckPolicy.EXPLICIT,
                    ack_wait=s.broadcaster_ack_wait_seconds,
                    max_deliver=s.broadcaster_max_deliver + DEAD_LETTER_HEADROOM,
                    max_ack_pending=max(1000, s.broadcaster_concurrency * 16),
                ),
            )
        subscription = await self._js.pull_subscribe_bind(
            durable=s.broadcaster_durable, stream=TODOS.name
        )
        ledger = DeliveryLedger(kv, self._holder, lease_seconds=s.broadcaster_ack_wait_seconds)
        log.info(
            "bound to consumer", extra={"consumer": s.broadcaster_durable, "holder": self._holder}
        )
        return Binding(subscription, ledger)

    async def _fetch_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._binding is None:
                    self._binding = await self._bind()
                await self._fetch_once(self._binding)
            except (TimeoutError, NatsError, OSError) as exc:
                if self._stopping.is_set():
                    break
                log.warning("consumer loop problem, retrying", extra={"error": repr(exc)})
                if isinstance(exc, NatsError) and "consumer" in str(exc).lower():
                    self._binding = None  # deleted or changed under us: bind again
                await self._pause(1.0)

    async def _fetch_once(self, binding: Binding) -> None:
        free = self._settings.broadcaster_concurrency - len(self._deliveries)
        if free <= 0:
            await asyncio.wait(self._deliveries, return_when=asyncio.FIRST_COMPLETED)
            return
        try:
            messages = await binding.subscription.fetch(batch=free, timeout=FETCH_SECONDS)
        except TimeoutError:
            return  # nothing to do (nats.errors.TimeoutError is an asyncio.TimeoutError)
        for msg in messages:
            task = asyncio.create_task(self._handle(binding.ledger, msg))
            self._deliveries.add(task)
            task.add_done_callback(self._deliveries.discard)

    async def _monitor_loop(self) -> None:
        while not self._stopping.is_set():
            if self._binding is not None:
                await self._refresh_consumer_state(self._binding)
            await self._pause(MONITOR_SECONDS)

    async def _refresh_consumer_state(self, binding: Binding) -> str | None:
        try:
            info = await asyncio.wait_for(binding.subscription.consumer_info(), 2.0)
        except (TimeoutError, NatsError) as exc:
            return f"consumer {self._settings.broadcaster_durable} unavailable: {exc!r}"[:300]
        CONSUMER_PENDING.set(info.num_pending or 0)
        CONSUMER_ACK_PENDING.set(info.num_ack_pending or 0)
        return None

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    async def _handle(self, ledger: DeliveryLedger, msg: Msg) -> None:
        deliveries = msg.metadata.num_delivered or 1
        try:
            announcement = announcement_for(msg.headers, msg.data)
        except InvalidEvent as exc:
            await self._dead_letter(msg, f"undecodable event: {exc}", deliveries)
            return
        event = announcement.event
        if event.id in self._in_flight:  # a redelivery overtook our own slow attempt
            await self._retry_later(msg, deliveries, "already in flight here", "deferred")
            return
        self._in_flight.add(event.id)
        keep_alive = asyncio.create_task(self._keep_alive(msg))
        try:
            with tracer.start_as_current_span(
                f"broadcast {event.type}",
                context=context_from(msg.headers),
                kind=SpanKind.CONSUMER,
                attributes={"cloudevents.event_id": event.id, "messaging.destination": msg.subject},
            ):
                await self._deliver(ledger, msg, announcement, deliveries)
        except (TimeoutError, NatsError, OSError) as exc:
            log.warning("delivery interrupted", extra={"event_id": event.id, "error": repr(exc)})
            await self._retry_later(msg, deliveries, f"nats unavailable: {exc!r}", "retried")
        except Exception as exc:
            log.exception("delivery failed unexpectedly", extra={"event_id": event.id})
            await self._retry_later(msg, deliveries, f"internal error: {exc!r}", "retried")
        finally:
            keep_alive.cancel()
            self._in_flight.discard(event.id)

    async def _deliver(
        self, ledger: DeliveryLedger, msg: Msg, announcement: Announcement, deliveries: int
    ) -> None:
        event_id = announcement.event.id
        await self._webhook.wait_for_turn()
        verdict = await ledger.claim(event_id)
        if isinstance(verdict, AlreadySent):
            await msg.ack()
            MESSAGES_PROCESSED.labels("duplicate").inc()
            log.info("duplicate event skipped", extra={"event_id": event_id})
            return
        if isinstance(verdict, HeldElsewhere):
            reason = f"claimed by {verdict.holder}"
            await self._retry_later(msg, deliveries, reason, "deferred", verdict.retry_in_seconds)
            return
        assert isinstance(verdict, Claimed)
        outcome = await self._webhook.send(event_id, announcement.text)
        if isinstance(outcome, Sent):
            await ledger.mark_sent(
                verdict.claim, give_up_after=self._settings.broadcaster_ack_wait_seconds
            )
            await msg.ack()
            MESSAGES_PROCESSED.labels("sent").inc()
            log.info("event broadcast", extra={"event_id": event_id, "subject": msg.subject})
            return
        await ledger.release(verdict.claim)
        if isinstance(outcome, Reject):
            await self._dead_letter(msg, outcome.reason, deliveries)
        elif isinstance(outcome, Retry):
            await self._retry_later(
                msg, deliveries, outcome.reason, "retried", outcome.after_seconds
            )

    async def _retry_later(
        self,
        msg: Msg,
        deliveries: int,
        reason: str,
        outcome: str,
        after_seconds: float | None = None,
    ) -> None:
        if deliveries >= self._settings.broadcaster_max_deliver:
            await self._dead_letter(
                msg, f"gave up after {deliveries} deliveries: {reason}", deliveries
            )
            return
        delay = after_seconds if after_seconds is not None else self._backoff(deliveries)
        delay = min(delay, self._settings.broadcaster_retry_max_seconds)
        await self._settle(msg.nak(delay=delay), msg)
        MESSAGES_PROCESSED.labels(outcome).inc()
        log.info(
            "event will be retried",
            extra={"reason": reason, "deliveries": deliveries, "delay_seconds": round(delay, 3)},
        )

    def _backoff(self, deliveries: int) -> float:
        """Exponential in the delivery count, with "equal jitter" so replicas retry out of step."""
        ceiling = min(
            self._settings.broadcaster_retry_max_seconds,
            self._settings.broadcaster_retry_base_seconds * 2 ** (deliveries - 1),
        )
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 (jitter, not security)

    async def _dead_letter(self, msg: Msg, reason: str, deliveries: int) -> None:
        headers = {**(msg.headers or {}), DLQ_SUBJECT_HEADER: msg.subject}
        try:
            await dead_letter(
                self._js,
                self._settings.broadcaster_durable,
                headers,
                msg.data,
                reason=reason,
                deliveries=deliveries,
            )
        except (TimeoutError, NatsError) as exc:
            log.warning("dead-lettering failed, will retry", extra={"error": repr(exc)})
            await self._settle(msg.nak(delay=self._backoff(deliveries)), msg)
            return
        await self._settle(msg.term(), msg)
        MESSAGES_PROCESSED.labels("dead_lettered").inc()

    @staticmethod
    async def _settle(reply: Awaitable[None], msg: Msg) -> None:
        """An ack/nak/term that cannot reach the server is replaced by JetStream's redelivery."""
        try:
            await reply
        except (NatsError, OSError) as exc:
            log.warning(
                "could not settle message", extra={"subject": msg.subject, "error": repr(exc)}
            )

    async def _keep_alive(self, msg: Msg) -> None:
        """Tell JetStream we are still working, so a slow call is not redelivered elsewhere."""
        every = self._settings.broadcaster_ack_wait_seconds / 3
        while True:
            await asyncio.sleep(every)
            with contextlib.suppress(NatsError, OSError):
                await msg.in_progress()
