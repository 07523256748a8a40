"""The broadcaster process: NATS connection, webhook client and consumer, behind the HTTP shell."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from litestar import Litestar

from shared_runtime.messaging import connect
from shared_runtime.web import service_app
from svc_broadcaster.consumer import Broadcaster
from svc_broadcaster.formats import destination_for
from svc_broadcaster.ratelimit import TokenBucket
from svc_broadcaster.settings import BroadcasterSettings
from svc_broadcaster.webhook import Webhook

SERVICE = "svc-broadcaster"


def holder_identity() -> str:
    """Names this process in delivery claims and in its User-Agent: host, pid and a nonce."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def create_app(settings: BroadcasterSettings) -> Litestar:
    holder = holder_identity()
    running: list[Broadcaster] = []

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        nc = await connect(settings, SERVICE)
        timeout = httpx.Timeout(settings.webhook_timeout_seconds)
        limits = httpx.Limits(max_connections=settings.broadcaster_concurrency)
        async with httpx.AsyncClient(timeout=timeout, limits=limits) as client:
            webhook = Webhook(
                destination_for(settings),
                client,
                TokenBucket(settings.webhook_rate_per_second, settings.webhook_rate_burst),
                user_agent=f"{SERVICE}/0.1 ({holder})",
            )
            broadcaster = Broadcaster(settings, nc, webhook, holder)
            broadcaster.start()
            running.append(broadcaster)
            try:
                yield
            finally:
                running.clear()
                await broadcaster.stop()
                await nc.drain()

    async def consumer_ready() -> str | None:
        if not running:
            return "starting"
        return await running[0].readiness()

    return service_app(
        service=SERVICE, route_handlers=[], readiness=[consumer_ready], lifespan=[lifespan]
    )
