"""Live updates: every replica follows the TODOS stream and tells its open pages what changed."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared_contracts.catalog import TODOS

log = logging.getLogger(__name__)


class LiveUpdates:
    """Fan-out of event types to server-sent-event streams; a slow page is cut off, never waited
    for (its browser reconnects and re-reads the list)."""

    def __init__(self, queue_size: int = 100) -> None:
        self._queues: set[asyncio.Queue[str | None]] = set()
        self._queue_size = queue_size
        self._closed = False

    async def follow(self, js: JetStreamContext) -> None:
        """An ordered consumer from now on: no durable state, one per replica, gaps healed by
        the client library."""

        async def changed(msg: Msg) -> None:
            self.publish((msg.headers or {}).get("ce-type", "todo.changed"))

        await js.subscribe(
            TODOS.subjects[0],
            stream=TODOS.name,
            ordered_consumer=True,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
            cb=changed,
        )

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
