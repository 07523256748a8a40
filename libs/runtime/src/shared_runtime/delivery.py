"""The one JetStream delivery path every durable consumer uses.

A service gives a handler for decoded CloudEvents; this module does the rest, the same way for
every consumer:

- **Pulls, pipelined.** Pull requests keep up to `concurrency` messages coming: a new request
  goes out while the previous ones are still being answered, so a message never waits for a
  round trip or for a batch to fill, and a busy consumer never idles between batches. Requests
  expire and carry idle heartbeats, so a pull lost in a reconnect is noticed and replaced.
- **Decide once.** The handler returns an outcome label and the message is acked; it raises
  `Retry` (or any unexpected exception) and the message is nacked with the shared back-off, or
  dead-lettered once `max_deliver` deliveries have failed; it raises `Reject` (or the message is
  not a CloudEvent) and it is dead-lettered at once and terminated. `decide` is that policy.
- **No double work in one process.** A redelivery that overtakes this process's own slow attempt
  is deferred, and slow handlers tell JetStream they are still working (`in_progress`); a handler
  that waits for another message sets its own aside, so the wait does not block pulling.
- **Prompt stop.** `stop` stops pulling, gives handlers in hand a grace period, then hands what is
  left back for immediate redelivery.

Built on nats-py rather than FastStream's pull subscriber: `bench/delivery_paths.py` measures
FastStream at ~400 us of CPU per message with an empty handler against ~10 us here, which alone
would take half a core at the broadcaster's target of 1,000 events/s.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.errors import Error as NatsError
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError
from opentelemetry import trace
from opentelemetry.trace import SpanKind

from shared_contracts.catalog import DLQ_SUBJECT_HEADER, Consumer, DeliverFrom
from shared_contracts.cloudevents import CloudEvent, InvalidEvent
from shared_runtime.messaging import cancel_within, dead_letter
from shared_runtime.telemetry import context_from

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

PULL_EXPIRES_SECONDS = 30.0
IDLE_HEARTBEAT_SECONDS = 5.0
WATCH_SECONDS = 1.0
CANCEL_SECONDS = 2.0
STATUS_HEADER = "Status"
PENDING_MESSAGES_HEADER = "Nats-Pending-Messages"
NO_RESPONDERS_STATUS = "503"


class Retry(Exception):
    """Raised by a handler: not now, try again later (after `after_seconds`, if given)."""

    def __init__(
        self, reason: str, *, after_seconds: float | None = None, outcome: str = "retried"
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after_seconds = after_seconds
        self.outcome = outcome


class Reject(Exception):
    """Raised by a handler: this message can never succeed; dead-letter it now."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Backoff:
    """Exponential in the delivery count with "equal jitter", so replicas retry out of step."""

    base_seconds: float
    max_seconds: float

    def delay(self, deliveries: int) -> float:
        ceiling = min(self.max_seconds, self.base_seconds * 2 ** max(deliveries - 1, 0))
        return float(ceiling / 2 + random.uniform(0, ceiling / 2))  # noqa: S311 - jitter, not security


@dataclass(frozen=True)
class Delivery:
    """What a handler is given: the event, where it came from, and the how-manyth try this is."""

    event: CloudEvent
    subject: str
    deliveries: int
    final: bool = False
    """A failure of this delivery dead-letters the message: no other follows."""
    set_aside: Callable[[], contextlib.AbstractAsyncContextManager[None]] = contextlib.nullcontext
    """While inside, the message waits without taking one of the consumer's `concurrency` places
    (it stays in hand, kept from redelivery), so waiting for another message cannot stop that
    message from being pulled."""


Handler = Callable[[Delivery], Awaitable[str]]
"""Returns the outcome label of a success (e.g. "sent", "duplicate"), counted and acked."""


@dataclass(frozen=True)
class Ack:
    outcome: str


@dataclass(frozen=True)
class Nak:
    delay_seconds: float
    reason: str
    outcome: str


@dataclass(frozen=True)
class DeadLetter:
    reason: str


Decision = Ack | Nak | DeadLetter


def decide(
    result: str | BaseException, *, deliveries: int, max_deliver: int, backoff: Backoff
) -> Decision:
    """What to do with a message once its handler returned `result` (a label or what it raised)."""
    if isinstance(result, str):
        return Ack(result)
    if isinstance(result, Reject):
        return DeadLetter(result.reason)
    if isinstance(result, InvalidEvent):
        return DeadLetter(f"undecodable event: {result}")
    retry = result if isinstance(result, Retry) else Retry(f"handler failed: {result!r}")
    if deliveries >= max_deliver:
        return DeadLetter(f"gave up after {deliveries} deliveries: {retry.reason}")
    delay = retry.after_seconds if retry.after_seconds is not None else backoff.delay(deliveries)
    return Nak(min(delay, backoff.max_seconds), retry.reason, retry.outcome)


@dataclass(frozen=True)
class ConsumerOptions:
    """How one service runs its consumer; the catalog's description gives the defaults."""

    concurrency: int = 16
    ack_wait: timedelta | None = None
    max_deliver: int | None = None
    backoff: Backoff = Backoff(base_seconds=1.0, max_seconds=300.0)
    deliver_from: DeliverFrom | datetime | None = None
    """Where a consumer created now starts (an existing one continues where it stopped)."""
    declare: bool = True
    """Create the consumer (local runs); in Kubernetes a NACK resource has declared it."""


def as_run(spec: Consumer, options: ConsumerOptions) -> Consumer:
    """The catalog's consumer with this service's overrides: ack wait, deliveries, and room
    for as many unacknowledged messages as it runs handlers."""
    return replace(
        spec,
        ack_wait=options.ack_wait or spec.ack_wait,
        max_deliver=options.max_deliver or spec.max_deliver,
        max_ack_pending=max(spec.max_ack_pending, options.concurrency),
    )


def consumer_config(spec: Consumer, options: ConsumerOptions) -> ConsumerConfig:
    """The server-side consumer for `spec` as this service runs it."""
    run = as_run(spec, options)
    deliver_from = options.deliver_from or spec.deliver_from
    if isinstance(deliver_from, datetime):
        policy, start_time = DeliverPolicy.BY_START_TIME, deliver_from
    else:
        policy, start_time = DeliverPolicy(deliver_from.value), None
    return ConsumerConfig(
        name=run.durable,
        durable_name=run.durable,
        description=run.description,
        filter_subject=run.filter_subject,
        deliver_policy=policy,
        opt_start_time=start_time,
        ack_policy=AckPolicy.EXPLICIT,
        ack_wait=run.ack_wait.total_seconds(),
        max_deliver=run.server_max_deliver,
        max_ack_pending=run.max_ack_pending,
    )


class DurableConsumer:
    """Runs `handler` for every message of one durable pull consumer, as described above."""

    def __init__(
        self,
        nc: Client,
        spec: Consumer,
        handler: Handler,
        options: ConsumerOptions,
        *,
        count: Callable[[str], None] = lambda _outcome: None,
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._spec = spec
        self._run = as_run(spec, options)
        self._handler = handler
        self._options = options
        self._count = count
        self._ack_wait = self._run.ack_wait.total_seconds()
        self._pull_subject = f"$JS.API.CONSUMER.MSG.NEXT.{spec.stream.name}.{spec.durable}"
        self._inbox = ""
        self._subscription: Subscription | None = None
        self._requested = 0
        self._busy = 0
        self._last_heard = time.monotonic()
        self._reconnects = 0
        self._in_hand: dict[int, tuple[Msg, float]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        self._watchdog: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return self._spec.durable

    async def start(self) -> None:
        """Declare (if asked) or check the consumer, then start pulling."""
        stream = self._spec.stream.name
        try:
            existing: ConsumerConfig | None = (
                await self._js.consumer_info(stream, self._spec.durable)
            ).config
        except NotFoundError:
            if not self._options.declare:
                raise
            existing = None
        if self._options.declare:
            wanted = consumer_config(self._spec, self._options)
            if existing is not None:  # where it starts is fixed at creation; the rest may change
                wanted.deliver_policy = existing.deliver_policy
                wanted.opt_start_time = existing.opt_start_time
            await self._js.add_consumer(stream, wanted)
        self._inbox = self._nc.new_inbox()
        self._subscription = await self._nc.subscribe(self._inbox, cb=self._received)
        self._watchdog = asyncio.create_task(self._watch(), name=f"{self.name}-watchdog")
        await self._pull()
        log.info(
            "consuming", extra={"consumer": self.name, "concurrency": self._options.concurrency}
        )

    async def stop(self, grace_seconds: float = 5.0) -> None:
        """Stop pulling; handlers in hand get `grace_seconds`, then their messages are nacked
        for prompt redelivery (to another replica, or to this service's next start)."""
        self._stopping = True
        if self._watchdog is not None:
            self._watchdog.cancel()
        if self._subscription is not None:
            # The server drops pull requests whose inbox has no interest left; messages it had
            # already sent still pass through `_received`, which hands them back (unsubscribing
            # would drop them here, to be redelivered only after the ack wait).
            draining = asyncio.create_task(self._subscription.drain())  # type: ignore[no-untyped-call]
            done, _ = await asyncio.wait({draining}, timeout=CANCEL_SECONDS)
            if not done:
                await cancel_within(draining, CANCEL_SECONDS)
            elif (error := draining.exception()) is not None:  # the connection is gone
                log.warning(
                    "pull inbox not drained", extra={"consumer": self.name, "error": repr(error)}
                )
        if self._tasks:
            log.info(
                "finishing messages in hand",
                extra={"consumer": self.name, "count": len(self._tasks)},
            )
            _, late = await asyncio.wait(set(self._tasks), timeout=grace_seconds)
            if late:
                log.warning(
                    "handlers still running at shutdown; their messages are handed back",
                    extra={"consumer": self.name, "count": len(late)},
                )
                await asyncio.gather(*(cancel_within(task, CANCEL_SECONDS) for task in late))
        with contextlib.suppress(NatsError, TimeoutError):
            await self._nc.flush(timeout=2)  # the acks and naks above reach the server

    async def state(self) -> tuple[int, int] | None:
        """(pending, ack pending) as the server sees it, or None if it cannot be asked now."""
        try:
            info = await self._js.consumer_info(self._spec.stream.name, self._spec.durable)
        except (NatsError, TimeoutError):
            return None
        return info.num_pending or 0, info.num_ack_pending or 0

    async def _pull(self) -> None:
        """Ask for as many messages as there is room for, once enough room has freed up."""
        room = self._options.concurrency - self._busy - self._requested
        if self._stopping or room <= 0:
            return
        if self._requested and room < self._options.concurrency // 2:
            return  # enough is on its way; ask again when half the room is free
        self._requested += room
        request = {
            "batch": room,
            "expires": int(PULL_EXPIRES_SECONDS * 1e9),
            "idle_heartbeat": int(IDLE_HEARTBEAT_SECONDS * 1e9),
        }
        try:
            await self._nc.publish(self._pull_subject, json.dumps(request).encode(), self._inbox)
        except NatsError as exc:
            self._requested -= room
            log.warning("pull request failed", extra={"consumer": self.name, "error": repr(exc)})

    async def _received(self, msg: Msg) -> None:
        self._last_heard = time.monotonic()
        headers = msg.headers or {}
        status = headers.get(STATUS_HEADER)
        if status is not None:
            await self._status(status, headers)
            return
        self._requested = max(self._requested - 1, 0)
        if self._stopping:
            await _settle(msg.nak(), self.name)
            return
        self._busy += 1
        task = asyncio.create_task(self._handle(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _status(self, status: str, headers: Mapping[str, str]) -> None:
        """100 is an idle heartbeat; 408/409 end a pull request (expired, leader changed, ...),
        with the count of messages it will no longer bring; 503 (no responders) means the
        consumer has no leader at the moment (an election after a node died): the watchdog asks
        again within WATCH_SECONDS, rather than a pull going back at once, again and again, a
        thousand times a second, while the cluster elects."""
        if status == "100":
            return
        pending = headers.get(PENDING_MESSAGES_HEADER)
        self._requested = max(self._requested - int(pending), 0) if pending else 0
        if status == NO_RESPONDERS_STATUS:
            return
        if status not in ("404", "408"):
            log.info(
                "pull request ended by the server",
                extra={
                    "consumer": self.name,
                    "status": status,
                    "reason": headers.get("Description"),
                },
            )
        await self._pull()

    async def _watch(self) -> None:
        """Replace pulls lost to a reconnect (seen, or no message nor heartbeat for two
        heartbeats), and keep slow handlers' messages from being redelivered elsewhere."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            now = time.monotonic()
            reconnects = self._nc.stats["reconnects"]
            silent = now - self._last_heard > 2 * IDLE_HEARTBEAT_SECONDS
            if self._requested and (silent or reconnects != self._reconnects):
                self._requested = 0
                self._last_heard = now
            self._reconnects = reconnects
            if self._nc.is_connected:
                await self._pull()
            for sequence, (msg, since) in list(self._in_hand.items()):
                if now - since > self._ack_wait / 3:
                    self._in_hand[sequence] = (msg, now)
                    await _settle(msg.in_progress(), self.name)

    async def _handle(self, msg: Msg) -> None:
        metadata = msg.metadata
        sequence = metadata.sequence.stream
        deliveries = metadata.num_delivered or 1
        if sequence in self._in_hand:  # a redelivery overtook our own slow attempt
            self._busy -= 1
            await self._apply(msg, Nak(self._ack_wait, "already in hand here", "deferred"))
            return
        self._in_hand[sequence] = (msg, time.monotonic())
        try:
            result = await self._run_handler(msg, deliveries)
            decision = decide(
                result,
                deliveries=deliveries,
                max_deliver=self._run.max_deliver,
                backoff=self._options.backoff,
            )
            await self._apply(msg, decision)
        except asyncio.CancelledError:
            await _settle(msg.nak(), self.name)  # abandoned at shutdown: redeliver now
            raise
        finally:
            self._in_hand.pop(sequence, None)
            self._busy -= 1
        await self._pull()

    async def _run_handler(self, msg: Msg, deliveries: int) -> str | BaseException:
        try:
            event = CloudEvent.from_nats(msg.headers, msg.data)
        except InvalidEvent as exc:
            return exc
        with _tracer.start_as_current_span(
            f"{msg.subject} process",
            context=context_from(msg.headers),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": msg.subject,
                "messaging.consumer.group.name": self.name,
                "messaging.message.id": event.id,
            },
        ):
            delivery = Delivery(
                event,
                msg.subject,
                deliveries,
                final=deliveries >= self._run.max_deliver,
                set_aside=self._set_aside,
            )
            try:
                return await self._handler(delivery)
            except (Retry, Reject, InvalidEvent) as exc:
                return exc
            except Exception as exc:  # unexpected means "maybe later": retried
                log.exception("handler failed", extra={"consumer": self.name, "event_id": event.id})
                return exc

    @contextlib.asynccontextmanager
    async def _set_aside(self) -> AsyncIterator[None]:
        self._busy -= 1
        try:
            await self._pull()
            yield
        finally:
            self._busy += 1

    async def _apply(self, msg: Msg, decision: Decision) -> None:
        if isinstance(decision, Ack):
            await _settle(msg.ack(), self.name)
            self._count(decision.outcome)
        elif isinstance(decision, Nak):
            await _settle(msg.nak(delay=decision.delay_seconds), self.name)
            self._count(decision.outcome)
            log.info(
                "message will be redelivered",
                extra={
                    "consumer": self.name,
                    "reason": decision.reason,
                    "delay_seconds": round(decision.delay_seconds, 3),
                },
            )
        else:
            await self._dead_letter(msg, decision.reason)

    async def _dead_letter(self, msg: Msg, reason: str) -> None:
        deliveries = msg.metadata.num_delivered or 1
        headers = {**(msg.headers or {}), DLQ_SUBJECT_HEADER: msg.subject}
        try:
            await dead_letter(
                self._js, self.name, headers, msg.data, reason=reason, deliveries=deliveries
            )
        except (NatsError, TimeoutError) as exc:
            log.warning("dead-lettering failed, will retry", extra={"error": repr(exc)})
            await _settle(msg.nak(delay=self._options.backoff.delay(deliveries)), self.name)
            return
        await _settle(msg.term(), self.name)
        self._count("dead_lettered")


async def _settle(reply: Awaitable[None], consumer: str) -> None:
    """An ack, nak or term that cannot reach the server is replaced by JetStream's redelivery."""
    try:
        await reply
    except (NatsError, OSError) as exc:
        log.warning("could not settle a message", extra={"consumer": consumer, "error": repr(exc)})
