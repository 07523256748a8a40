"""The NATS trigger: a durable pull consumer on `wikipedia.requests` shared by every replica.

A request that fails because Wikipedia or JetStream is down is redelivered later with a growing
delay; one that can never succeed (not a CloudEvent, wrong type) goes to `dlq.wikipedia` at once,
and one that keeps failing goes there after `max_deliver` deliveries.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from opentelemetry import context, trace

from shared_contracts.catalog import WIKIPEDIA, WIKIPEDIA_REQUESTED
from shared_contracts.cloudevents import CloudEvent, InvalidEvent
from shared_runtime.messaging import dead_letter
from shared_runtime.telemetry import context_from
from svc_wikipedia.metrics import FAILURES
from svc_wikipedia.suggestions import Suggester, SuggestionFailed, trigger_id

log = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

DURABLE_NAME = "wikipedia"
STOP_GRACE_SECONDS = 3.0
DEAD_LETTER_NAME = "wikipedia"
"""Requests this service gives up on go to `dlq.wikipedia`."""
ACCEPTED_TYPES = frozenset({WIKIPEDIA_REQUESTED.event_type})
FETCH_SECONDS = 5.0
RECONNECT_PAUSE_SECONDS = 1.0


@dataclass(frozen=True)
class Redelivery:
    """How patiently a failing request is retried."""

    first_delay_seconds: float
    max_delay_seconds: float
    max_deliver: int
    ack_wait_seconds: float = 60.0

    def delay_after(self, deliveries: int) -> float:
        return min(self.first_delay_seconds * 2.0 ** (deliveries - 1), self.max_delay_seconds)


class RequestConsumer:
    def __init__(self, js: JetStreamContext, suggester: Suggester, redelivery: Redelivery) -> None:
        self._js = js
        self._suggester = suggester
        self._redelivery = redelivery
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        subscription = await self._js.pull_subscribe(
            WIKIPEDIA_REQUESTED.subject,
            durable=DURABLE_NAME,
            stream=WIKIPEDIA.name,
            config=ConsumerConfig(
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=self._redelivery.ack_wait_seconds,
                max_deliver=self._redelivery.max_deliver,
                max_ack_pending=100,
            ),
        )
        self._task = asyncio.create_task(self._run(subscription), name="wikipedia-requests")

    async def stop(self) -> None:
        """Stop fetching; a request being handled gets `STOP_GRACE_SECONDS` to finish, then is
        abandoned unacknowledged, so JetStream redelivers it (to another replica or later)."""
        self._stopping.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(self._task, STOP_GRACE_SECONDS)
        except TimeoutError:
            log.warning("request in hand abandoned at shutdown; it will be redelivered")

    async def _run(self, subscription: JetStreamContext.PullSubscription) -> None:
        while not self._stopping.is_set():
            for message in await self._next(subscription):
                try:
                    await self._handle(message)
                except asyncio.CancelledError:
                    await message.nak()  # abandoned at shutdown: redeliver now, elsewhere
                    raise
                except Exception:
                    log.exception("request left for redelivery after an unexpected error")

    async def _next(self, subscription: JetStreamContext.PullSubscription) -> list[Msg]:
        """The next request, or none when the fetch timed out or we are stopping."""
        fetch = asyncio.ensure_future(subscription.fetch(1, timeout=FETCH_SECONDS))
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({fetch, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not fetch.done():
            fetch.cancel()
            with contextlib.suppress(asyncio.CancelledError, nats.errors.Error):
                await fetch
            return []
        try:
            return fetch.result()
        except nats.errors.TimeoutError:
            return []
        except nats.errors.Error as exc:
            log.warning("fetching requests failed", extra={"error": repr(exc)})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), RECONNECT_PAUSE_SECONDS)
            return []

    async def _handle(self, message: Msg) -> None:
        deliveries = message.metadata.num_delivered
        try:
            event = CloudEvent.from_nats(message.headers, message.data)
            trigger = trigger_id(event, ACCEPTED_TYPES)
        except InvalidEvent as bad:
            FAILURES.labels("invalid_event").inc()
            await self._give_up(message, reason=str(bad), deliveries=deliveries)
            return

        token = context.attach(context_from(message.headers))
        try:
            with tracer.start_as_current_span("wikipedia.requests process"):
                await self._suggester.suggest(trigger)
        except SuggestionFailed as failure:
            if deliveries >= self._redelivery.max_deliver:
                await self._give_up(message, reason=str(failure), deliveries=deliveries)
                return
            delay = self._redelivery.delay_after(deliveries)
            log.warning(
                "suggestion failed, request will be redelivered",
                extra={"event_id": event.id, "error": str(failure), "delay_seconds": delay},
            )
            await message.nak(delay=delay)
            return
        finally:
            context.detach(token)
        await message.ack()

    async def _give_up(self, message: Msg, *, reason: str, deliveries: int) -> None:
        await dead_letter(
            self._js,
            DEAD_LETTER_NAME,
            message.headers,
            message.data,
            reason=reason,
            deliveries=deliveries,
        )
        await message.term()
