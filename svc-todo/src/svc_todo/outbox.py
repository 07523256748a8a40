"""The relay that moves committed outbox events onto the TODOS stream.

It wakes right after a commit (no polling delay on the normal path) and also sweeps periodically,
so events written by another replica or left behind by a crash go out too. Each round takes the
oldest unpublished event of every todo (so the events of one todo keep their order, even with
several replicas relaying at once: `FOR UPDATE SKIP LOCKED` on PostgreSQL), publishes the whole
round concurrently and marks what JetStream stored in one statement. Each event names the todo's
previous event (`ce-predecessorid`), so consumers working in parallel can keep a todo's order
too. Publishing carries `Nats-Msg-Id` = event id, so a row republished after a crash is dropped
by JetStream as a duplicate. While writes keep coming the relay goes round after round, each a
few awaits long, so the request path sharing its event loop cannot starve it.

The backlog gauges run on their own clock, so they stay true however busy the relay is; published
rows are forgotten by `housekeeping`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from opentelemetry import trace

from shared_contracts.cloudevents import PREDECESSOR_ID, CloudEvent
from shared_runtime.database import AnyEngine, is_postgres, write_transaction
from shared_runtime.delivery import Backoff
from shared_runtime.messaging import Published, cancel_within
from shared_runtime.telemetry import context_from, current_traceparent, is_recording
from svc_todo.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, OUTBOX_PUBLISH_SECONDS
from svc_todo.models import OutboxRow
from svc_todo.settings import SERVICE

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

GAUGE_SECONDS = 1.0
STOP_SECONDS = 2.0
PAUSE = Backoff(base_seconds=0.1, max_seconds=5.0)
"""How long the relay waits after a failed round (NATS or the database away), by failures."""

_HEADS = """
SELECT seq, event_id, subject, event_type, data, traceparent, created_at,
  (SELECT before.event_id FROM todo_outbox before
   WHERE before.aggregate_id = o.aggregate_id AND before.seq < o.seq
   ORDER BY before.seq DESC LIMIT 1) AS predecessor_id
FROM todo_outbox o
WHERE published_at IS NULL
  AND NOT EXISTS (
    SELECT 1 FROM todo_outbox earlier
    WHERE earlier.aggregate_id = o.aggregate_id
      AND earlier.published_at IS NULL
      AND earlier.seq < o.seq)
ORDER BY seq
LIMIT {limit}
"""


@dataclass(frozen=True)
class PendingEvent:
    subject: str
    event: CloudEvent
    created_at: datetime


Publisher = Callable[[Sequence[tuple[str, CloudEvent]]], Awaitable[list[Published]]]
"""Publishes a batch concurrently; one result per event, in order."""


def _as_utc(value: datetime | str) -> datetime:
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _pending(row: dict[str, Any]) -> PendingEvent:
    """The event as published: it names the todo's previous event (already on TODOS, since a
    round takes only each todo's oldest unpublished event), unless housekeeping has dropped it."""
    created_at = _as_utc(row["created_at"])
    predecessor = row["predecessor_id"]
    event = CloudEvent(
        id=row["event_id"],
        type=row["event_type"],
        source=SERVICE,
        data=row["data"].encode(),
        time=created_at,
        traceparent=row["traceparent"],
        extensions={PREDECESSOR_ID: predecessor} if predecessor else {},
    )
    return PendingEvent(subject=row["subject"], event=event, created_at=created_at)


class OutboxRelay:
    def __init__(
        self,
        engine: AnyEngine,
        publish: Publisher,
        *,
        sweep_seconds: float,
        batch_size: int,
    ) -> None:
        self._engine = engine
        self._publish = publish
        self._sweep_seconds = sweep_seconds
        self._batch_size = batch_size
        self._wakeup = asyncio.Event()

    def wake(self) -> None:
        """Called after every commit that wrote an event."""
        self._wakeup.set()

    async def run(self, after: Callable[[], Awaitable[None]]) -> None:
        """Relay until cancelled, once `after` returns (the schema exists); a failed round
        (NATS or the database away) pauses with a growing delay, then tries again."""
        await after()
        gauges = asyncio.create_task(self._watch_backlog(), name="outbox-gauges")
        failures = 0
        try:
            while True:
                with suppress(TimeoutError):
                    await asyncio.wait_for(self._wakeup.wait(), self._sweep_seconds)
                self._wakeup.clear()
                try:
                    await self.drain()
                except Exception as exc:  # noqa: BLE001 - keep relaying; the rows stay for later
                    failures += 1
                    delay = PAUSE.delay(failures)
                    log.warning(
                        "outbox relay paused", extra={"error": repr(exc), "retry_in": delay}
                    )
                    await asyncio.sleep(delay)
                    self._wakeup.set()
                    continue
                failures = 0
        finally:
            # Waited for, so a gauge query in flight ends before the engine is closed.
            await cancel_within(gauges, STOP_SECONDS)

    async def flush(self, timeout: float = 5.0) -> None:
        """At shutdown, after `run` is cancelled: one last attempt to publish what is committed."""
        try:
            await asyncio.wait_for(self.drain(), timeout)
        except Exception as exc:  # noqa: BLE001 - what is left is published by the next start
            log.warning("outbox not fully flushed at shutdown", extra={"error": repr(exc)})

    async def drain(self) -> int:
        total = 0
        while published := await self._publish_round():
            total += published
        return total

    async def _publish_round(self) -> int:
        sql = _HEADS.format(limit=self._batch_size)
        if is_postgres(self._engine):
            sql += " FOR UPDATE SKIP LOCKED"
        async with write_transaction(self._engine):
            rows = await OutboxRow.raw(sql)
            if not rows:
                return 0
            pending = [_pending(row) for row in rows]
            results = await self._publish_traced(pending)
            published = [row["seq"] for row, result in zip(rows, results, strict=True) if result.ok]
            if published:
                await OutboxRow.update({OutboxRow.published_at: datetime.now(UTC)}).where(
                    OutboxRow.seq.is_in(published)
                )
        now = datetime.now(UTC)
        for event, result in zip(pending, results, strict=True):
            if result.ok:
                OUTBOX_PUBLISH_SECONDS.observe((now - event.created_at).total_seconds())
        failed = next((r.error for r in results if r.error is not None), None)
        if failed is not None:
            raise failed
        return len(published)

    async def _publish_traced(self, batch: list[PendingEvent]) -> list[Published]:
        """Each event continues the trace of the request that made the change, and the message
        carries its publish span on. Without a tracer that records, the message carries the
        request's trace context as written."""
        if not is_recording():
            return await self._publish([(pending.subject, pending.event) for pending in batch])
        with ExitStack() as spans:
            events: list[tuple[str, CloudEvent]] = []
            for pending in batch:
                span = spans.enter_context(
                    _tracer.start_as_current_span(
                        f"publish {pending.subject}",
                        context=context_from({"traceparent": pending.event.traceparent or ""}),
                        kind=trace.SpanKind.PRODUCER,
                        attributes={
                            "messaging.system": "nats",
                            "messaging.destination.name": pending.subject,
                            "messaging.message.id": pending.event.id,
                        },
                        end_on_exit=True,
                    )
                )
                traceparent = current_traceparent() if span.is_recording() else None
                event = replace(pending.event, traceparent=traceparent or pending.event.traceparent)
                events.append((pending.subject, event))
            return await self._publish(events)

    async def _watch_backlog(self) -> None:
        """The backlog gauges every second, whatever the load."""
        while True:
            await self._refresh_gauges()
            await asyncio.sleep(GAUGE_SECONDS)

    async def _refresh_gauges(self) -> None:
        try:
            backlog = await OutboxRow.count().where(OutboxRow.published_at.is_null())
            oldest = (
                await OutboxRow.select(OutboxRow.created_at)
                .where(OutboxRow.published_at.is_null())
                .order_by(OutboxRow.seq)
                .first()
            )
        except Exception:  # noqa: BLE001 - gauges are best effort; the relay reports errors
            return
        OUTBOX_BACKLOG.set(backlog)
        age = (datetime.now(UTC) - _as_utc(oldest["created_at"])).total_seconds() if oldest else 0
        OUTBOX_OLDEST_AGE.set(max(age, 0.0))
