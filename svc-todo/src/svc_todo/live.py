"""Live updates: every replica follows the TODOS stream and tells its open pages what changed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from faststream.nats import DeliverPolicy, JStream, NatsMessage, NatsRouter

from shared_contracts.catalog import TODOS

log = logging.getLogger(__name__)


class LiveUpdates:
    """Fan-out of event types to server-sent-event streams; a slow page is cut off, never waited
    for (its browser reconnects and re-reads the list)."""

    def __init__(self, queue_size: int = 100) -> None:
        self._queues: set[asyncio.Queue[str | None]] = set()
        self._queue_size = queue_size
        self._closed = False

    def publish(self, event_type: str) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(event_type)
            except asyncio.QueueFull:
                self._end(queue)

    async def stream(self) -> AsyncIterator[str]:
        if self._closed:
            return
        queue: asyncio.Queue[str | None] = asyncio.Queue(self._queue_size)
        self._queues.add(queue)
        try:
            while (event_type := await queue.get()) is not None:
                yield event_type
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        """End every open stream, and refuse new ones (at shutdown); pages reconnect elsewhere."""
        self._closed = True
        for queue in list(self._queues):
            self._end(queue)

    def _end(self, queue: asyncio.Queue[str | None]) -> None:
        self._queues.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)

    @property
    def listeners(self) -> int:
        return len(self._queues)


def live_router(updates: LiveUpdates) -> NatsRouter:
    router = NatsRouter()

    @router.subscriber(
        TODOS.subjects[0],
        stream=JStream(TODOS.name, declare=False),
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.NEW,
        include_in_schema=False,
    )
    async def todo_changed(message: NatsMessage) -> None:
        updates.publish((message.headers or {}).get("ce-type", "todo.changed"))

    return router
