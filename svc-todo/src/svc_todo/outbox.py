"""The relay that moves committed outbox events onto the TODOS stream.

It wakes right after a commit (no polling delay on the normal path) and also sweeps periodically,
so events written by another replica or left behind by a crash go out too. Each round takes only
the oldest unpublished event of every todo, so the events of one todo keep their order even with
several replicas relaying at once (`FOR UPDATE SKIP LOCKED` on PostgreSQL). Publishing carries
`Nats-Msg-Id` = event id, so a row republished after a crash is dropped by JetStream as a duplicate.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from opentelemetry import trace

from shared_contracts.cloudevents import CloudEvent
from shared_runtime.database import AnyEngine, is_postgres, write_transaction
from shared_runtime.telemetry import context_from, current_traceparent
from svc_todo.metrics import OUTBOX_BACKLOG, OUTBOX_OLDEST_AGE, OUTBOX_PUBLISH_SECONDS
from svc_todo.models import OutboxRow
from svc_todo.settings import SERVICE

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

RETENTION = timedelta(days=1)
MAX_BACKOFF_SECONDS = 5.0

_HEADS = """
SELECT seq, event_id, subject, event_type, data, traceparent, created_at
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


Publisher = Callable[[PendingEvent], Awaitable[None]]


def _as_utc(value: datetime | str) -> datetime:
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _pending(row: dict[str, Any]) -> PendingEvent:
    created_at = _as_utc(row["created_at"])
    event = CloudEvent(
        id=row["event_id"],
        type=row["event_type"],
        source=SERVICE,
        data=row["data"].encode(),
        time=created_at,
        traceparent=row["traceparent"],
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
        """Relay until cancelled, once `after` returns (the schema exists); failures (NATS or
        the database away) back off and retry. The backlog gauges are read from the database on
        each sweep and after a failure; a full drain sets them to zero without a query."""
        await after()
        failures = 0
        while True:
            swept = False
            try:
                await asyncio.wait_for(self._wakeup.wait(), self._sweep_seconds)
            except TimeoutError:
                swept = True
                await self._forget_published()
            self._wakeup.clear()
            try:
                await self.drain()
            except Exception as exc:  # noqa: BLE001 - keep relaying; the rows stay for later
                failures += 1
                delay = min(MAX_BACKOFF_SECONDS, 0.1 * 2**failures)
                log.warning("outbox relay paused", extra={"error": repr(exc), "retry_in": delay})
                await self._refresh_gauges()
                await asyncio.sleep(delay)
                self._wakeup.set()
                continue
            failures = 0
            if swept:
                await self._refresh_gauges()
            else:
                OUTBOX_BACKLOG.set(0)
                OUTBOX_OLDEST_AGE.set(0)

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
        published: list[int] = []
        failure: Exception | None = None
        async with write_transaction(self._engine):
            for row in await OutboxRow.raw(sql):
                pending = _pending(row)
                try:
                    await self._publish_traced(pending)
                except Exception as exc:  # noqa: BLE001 - mark what went out, then report
                    failure = exc
                    break
                published.append(row["seq"])
                OUTBOX_PUBLISH_SECONDS.observe(
                    (datetime.now(UTC) - pending.created_at).total_seconds()
                )
            if published:
                await OutboxRow.update({OutboxRow.published_at: datetime.now(UTC)}).where(
                    OutboxRow.seq.is_in(published)
                )
        if failure is not None:
            raise failure
        return len(published)

    async def _publish_traced(self, pending: PendingEvent) -> None:
        """Continue the trace of the request that made the change; the message carries it on."""
        parent = context_from({"traceparent": pending.event.traceparent or ""})
        with _tracer.start_as_current_span(
            f"publish {pending.subject}",
            context=parent,
            kind=trace.SpanKind.PRODUCER,
            attributes={
                "messaging.system": "nats",
                "messaging.destination.name": pending.subject,
                "messaging.message.id": pending.event.id,
            },
        ):
            traceparent = current_traceparent() or pending.event.traceparent
            await self._publish(
                replace(pending, event=replace(pending.event, traceparent=traceparent))
            )

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

    async def _forget_published(self) -> None:
        cutoff = datetime.now(UTC) - RETENTION
        try:
            await OutboxRow.delete().where(OutboxRow.published_at < cutoff)
        except Exception as exc:  # noqa: BLE001 - housekeeping can wait for the next sweep
            log.warning("outbox cleanup failed", extra={"error": repr(exc)})
