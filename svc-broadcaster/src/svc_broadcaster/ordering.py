"""Each todo's events reach the chat in the order they happened, across replicas.

Events are on TODOS in each todo's order, but replicas (and the handlers within one) work in
parallel, and a failed call is retried later: left alone, a done-mark right after a creation
could be announced first. Every todo event names its predecessor (`ce-predecessorid`), and an
event goes out only once the ledger shows that predecessor settled: sent, or given up on. While it
waits, the event is set aside (it keeps its place in hand without taking a delivery or a place of
the consumer's concurrency), and its own claim stays live, so the event after it waits in turn.

A predecessor that is claimed, or retrying and due back, is waited for as long as that lasts. One
that nobody holds (not yet handed to anyone, its holder died, or it never will come: deleted from
the stream, or older than this consumer) is waited for `unseen_seconds` at most, longer than a
redelivery after a crash takes; then the event goes out and the wait is counted as broken order. A
predecessor older than the ledger remembers counts as settled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

from nats.errors import Error as NatsError

from svc_broadcaster.ledger import DeliveryLedger
from svc_broadcaster.metrics import ORDER_WAITS

log = logging.getLogger(__name__)

FIRST_LOOK_SECONDS = 0.005
LAST_LOOK_SECONDS = 1.0
"""The ledger is read again after a growing pause: at once for a call in flight, rarely for a
predecessor that is being retried for minutes."""
_SETTLED, _IN_PROGRESS, _UNSEEN, _UNKNOWN = "settled", "in progress", "unseen", "unknown"
SETTLED_HERE = 4096
"""Event ids this replica settled lately, known without reading the ledger."""


class InOrder:
    def __init__(
        self, ledger: DeliveryLedger, *, unseen_seconds: float, remembered_seconds: float
    ) -> None:
        self._ledger = ledger
        self._unseen_seconds = unseen_seconds
        self._remembered_seconds = remembered_seconds
        self._here: dict[str, asyncio.Event | None] = {}
        """Events this replica is handling; a successor waiting here gets an `asyncio.Event`
        set when that ends, and looks at the ledger then instead of after its pause."""
        self._settled_here: OrderedDict[str, None] = OrderedDict()

    @contextmanager
    def handling(self, event_id: str) -> Iterator[None]:
        self._here[event_id] = None
        try:
            yield
        finally:
            ended = self._here.pop(event_id, None)
            if ended is not None:
                ended.set()

    def settled(self, event_id: str) -> None:
        """This replica sent the event or gave up on it."""
        self._settled_here[event_id] = None
        if len(self._settled_here) > SETTLED_HERE:
            self._settled_here.popitem(last=False)

    async def after(self, predecessor_id: str, event_time: datetime) -> bool:
        """Returns once `predecessor_id` is settled (True), or was nowhere to be seen for
        `unseen_seconds` (False)."""
        started = time.monotonic()
        if (datetime.now(UTC) - event_time).total_seconds() > self._remembered_seconds:
            self._count("in_order", started)
            return True
        unseen_since: float | None = None
        pause = FIRST_LOOK_SECONDS
        while (state := await self._state_of(predecessor_id)) != _SETTLED:
            if state != _UNSEEN:
                unseen_since = None
            elif unseen_since is None:
                unseen_since = time.monotonic()
            elif time.monotonic() - unseen_since > self._unseen_seconds:
                self._count("predecessor_unseen", started)
                log.warning(
                    "announcing an event before its predecessor, which nobody holds",
                    extra={"predecessor_id": predecessor_id},
                )
                return False
            await self._pause(predecessor_id, pause)
            pause = min(pause * 2, LAST_LOOK_SECONDS)
        self._count("in_order", started)
        return True

    async def _state_of(self, event_id: str) -> str:
        if event_id in self._settled_here:
            return _SETTLED
        if event_id in self._here:
            return _IN_PROGRESS  # this replica is on it: no need to ask the ledger
        try:
            record = await self._ledger.record(event_id)
        except (TimeoutError, NatsError):
            return _UNKNOWN  # the ledger is away: no judgement yet
        if record is not None and record.settled:
            return _SETTLED
        if record is not None and record.in_progress(time.time()):
            return _IN_PROGRESS
        return _UNSEEN

    async def _pause(self, predecessor_id: str, seconds: float) -> None:
        if predecessor_id not in self._here:
            await asyncio.sleep(seconds)
            return
        ended = self._here[predecessor_id] or asyncio.Event()
        self._here[predecessor_id] = ended
        with suppress(TimeoutError):
            await asyncio.wait_for(ended.wait(), seconds)

    @staticmethod
    def _count(outcome: str, started: float) -> None:
        ORDER_WAITS.labels(outcome).observe(time.monotonic() - started)
