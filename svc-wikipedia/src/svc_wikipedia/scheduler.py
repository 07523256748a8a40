"""The local schedule: once per slot, ask for a suggestion through `wikipedia.requests`.

The request's id is the slot ("schedule:2026-11-27T10:00Z"), the same on every replica and after
a restart. JetStream keeps one request per id within the stream's duplicate window, and the
todo command's id is derived from it, so svc-todo creates one todo per slot even when the window
is shorter than the slot. In Kubernetes a PingSource does this instead (SUGGEST_EVERY_MINUTES=0).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import nats.errors
from nats.js import JetStreamContext

from shared_contracts.catalog import WIKIPEDIA_REQUESTED
from shared_contracts.cloudevents import CloudEvent
from shared_contracts.wikipedia import WikipediaRequested
from shared_runtime.messaging import publish_event

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
SOURCE = "/svc-wikipedia/scheduler"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RETRY_SECONDS = 5.0
MIN_SLEEP_SECONDS = 1.0


def utc_now() -> datetime:
    return datetime.now(UTC)


def slot_start(now: datetime, every: timedelta) -> datetime:
    """The start of the slot `now` falls in; slots are aligned to the Unix epoch (UTC)."""
    return EPOCH + ((now - EPOCH) // every) * every


def slot_id(start: datetime) -> str:
    return f"schedule:{start.astimezone(UTC):%Y-%m-%dT%H:%M}Z"


class Scheduler:
    def __init__(self, js: JetStreamContext, every: timedelta, clock: Clock = utc_now) -> None:
        self._js = js
        self._every = every
        self._clock = clock
        self._requested: str | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Request the current slot now (a restart may have missed it), then each new slot."""
        wait = await self._request_due_slot()
        self._task = asyncio.create_task(self._run(wait), name="wikipedia-scheduler")

    async def stop(self) -> None:
        self._stopping.set()
        if self._task is not None:
            await self._task

    async def _run(self, wait: float) -> None:
        while not await self._stopped_within(wait):
            wait = await self._request_due_slot()

    async def _stopped_within(self, seconds: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def _request_due_slot(self) -> float:
        """Request the current slot unless that is done; the seconds until the next check."""
        start = slot_start(self._clock(), self._every)
        slot = slot_id(start)
        if slot != self._requested and await self._request(slot):
            self._requested = slot
        if slot != self._requested:
            return RETRY_SECONDS
        return max((start + self._every - self._clock()).total_seconds(), MIN_SLEEP_SECONDS)

    async def _request(self, request_id: str) -> bool:
        event = CloudEvent.new(
            WIKIPEDIA_REQUESTED.event_type, SOURCE, WikipediaRequested(), event_id=request_id
        )
        try:
            stored = await publish_event(self._js, WIKIPEDIA_REQUESTED.subject, event)
        except nats.errors.Error as exc:
            log.warning(
                "scheduled request not published, will retry",
                extra={"slot": request_id, "error": repr(exc)},
            )
            return False
        log.info("scheduled request published", extra={"slot": request_id, "stored": stored})
        return True
