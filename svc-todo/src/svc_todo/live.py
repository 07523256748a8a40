"""Live updates: while pages listen, a replica follows the TODOS stream and tells them what
changed."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import AsyncGenerator

from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared_contracts.catalog import TODOS

log = logging.getLogger(__name__)

LINGER_SECONDS = 60.0
"""How long a replica keeps following after its last page left: the next page view (a reload,
a navigation) finds it following already."""


class LiveUpdates:
    """Fan-out of event types to server-sent-event streams; a slow page is cut off, never waited
    for (its browser reconnects and re-reads the list).

    The stream is followed only while a page listens: a replica with no page open receives no
    event, so the write path does not pay for an audience that is not there."""

    def __init__(self, queue_size: int = 100, linger_seconds: float = LINGER_SECONDS) -> None:
        self._queues: set[asyncio.Queue[str | None]] = set()
        self._queue_size = queue_size
        self._linger_seconds = linger_seconds
        self._closed = False
        self._js: JetStreamContext | None = None
        self._subscription: JetStreamContext.PushSubscription | None = None
        self._subscribing = asyncio.Lock()
        self._unfollow: asyncio.Task[None] | None = None

    async def attach(self, js: JetStreamContext) -> None:
        """NATS is connected: follow now if pages are listening already."""
        self._js = js
        if self._queues:
            await self._follow()

    async def listen(self) -> AsyncGenerator[str, None]:
        """A page's stream of event types: every change committed after this returns reaches it
        (while NATS is connected; a page opened during an outage hears changes once it is back)."""
        queue: asyncio.Queue[str | None] = asyncio.Queue(self._queue_size)
        stream = self._drain(queue)
        if self._closed:
            queue.put_nowait(None)
            return stream
        self._queues.add(queue)
        # A stream dropped before its first read never runs its `finally`: leave on collection.
        weakref.finalize(stream, self._leave, queue)
        if self._unfollow is not None:
            self._unfollow.cancel()
            self._unfollow = None
        try:
            await self._follow()
        except Exception as exc:  # noqa: BLE001 - the page opens anyway; the next one retries
            log.warning("live updates not followed", extra={"error": repr(exc)})
        return stream

    def publish(self, event_type: str) -> None:
        for queue in list(self._queues):
            try:
                queue.put_nowait(event_type)
            except asyncio.QueueFull:
                self._end(queue)

    def close(self) -> None:
        """End every open stream, and refuse new ones (at shutdown); pages reconnect elsewhere."""
        self._closed = True
        if self._unfollow is not None:
            self._unfollow.cancel()
        for queue in list(self._queues):
            self._end(queue)

    async def _follow(self) -> None:
        """An ordered consumer from now on: no durable state, gaps healed by the client library."""
        async with self._subscribing:
            if self._subscription is not None or self._js is None:
                return
            self._subscription = await self._js.subscribe(
                TODOS.subjects[0],
                stream=TODOS.name,
                ordered_consumer=True,
                config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
                cb=self._changed,
            )

    async def _changed(self, msg: Msg) -> None:
        self.publish((msg.headers or {}).get("ce-type", "todo.changed"))

    async def _unfollow_when_unheard(self) -> None:
        await asyncio.sleep(self._linger_seconds)
        async with self._subscribing:
            self._unfollow = None
            if self._queues or self._subscription is None:
                return
            subscription, self._subscription = self._subscription, None
            await subscription.unsubscribe()

    async def _drain(self, queue: asyncio.Queue[str | None]) -> AsyncGenerator[str, None]:
        try:
            while (event_type := await queue.get()) is not None:
                yield event_type
        finally:
            self._leave(queue)

    def _leave(self, queue: asyncio.Queue[str | None]) -> None:
        self._queues.discard(queue)
        if not self._queues and not self._closed and self._unfollow is None:
            self._unfollow = asyncio.get_running_loop().create_task(
                self._unfollow_when_unheard(), name="live-updates-unfollow"
            )

    def _end(self, queue: asyncio.Queue[str | None]) -> None:
        self._queues.discard(queue)
        while not queue.empty():
            queue.get_nowait()
        queue.put_nowait(None)
