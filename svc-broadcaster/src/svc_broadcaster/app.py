"""The broadcaster process: NATS link, webhook session and consumer, behind the HTTP shell."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from litestar import Litestar
from nats.aio.client import Client

from shared_contracts.catalog import BROADCASTER, DLQ, TODOS
from shared_runtime.delivery import DurableConsumer
from shared_runtime.messaging import NatsLink, declare_streams
from shared_runtime.web import service_app
from svc_broadcaster.consumer import Broadcast
from svc_broadcaster.formats import destination_for
from svc_broadcaster.ledger import DeliveryLedger, open_bucket
from svc_broadcaster.metrics import CONSUMER_ACK_PENDING, CONSUMER_PENDING, MESSAGES_PROCESSED
from svc_broadcaster.ordering import InOrder
from svc_broadcaster.ratelimit import TokenBucket
from svc_broadcaster.settings import BroadcasterSettings
from svc_broadcaster.webhook import Webhook, open_session

SERVICE = "svc-broadcaster"
MONITOR_SECONDS = 5.0
STOP_GRACE_SECONDS = 10.0
"""In-flight deliveries get this long to finish and ack at shutdown (Kubernetes allows 30 s)."""


def holder_identity() -> str:
    """Names this process in delivery claims and in its User-Agent: host, pid and a nonce."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


async def open_ledger(settings: BroadcasterSettings, nc: Client, holder: str) -> DeliveryLedger:
    js = nc.jetstream()
    if settings.declare_streams:
        await declare_streams(js, (TODOS, DLQ))
    kv = await open_bucket(
        js,
        settings.broadcaster_dedup_bucket,
        settings.broadcaster_dedup_ttl_hours * 3600,
        settings.declare_streams,
    )
    return DeliveryLedger(kv, holder, lease_seconds=settings.broadcaster_ack_wait_seconds)


def create_app(settings: BroadcasterSettings) -> Litestar:
    holder = holder_identity()
    spec = dataclasses.replace(BROADCASTER, durable=settings.broadcaster_durable)
    consumers: list[DurableConsumer] = []
    handlers: list[Broadcast] = []

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        rate, burst = settings.rate_limit
        async with open_session(
            settings.webhook_timeout_seconds, settings.broadcaster_concurrency
        ) as session:
            webhook = Webhook(
                destination_for(settings),
                session,
                TokenBucket(rate, burst),
                user_agent=f"{SERVICE}/0.1 ({holder})",
            )

            async def bind(nc: Client) -> None:
                ledger = await open_ledger(settings, nc, holder)
                ack_wait = settings.broadcaster_ack_wait_seconds
                order = InOrder(
                    ledger,
                    unseen_seconds=2 * ack_wait,
                    remembered_seconds=settings.broadcaster_dedup_ttl_hours * 3600,
                )
                handler = Broadcast(
                    ledger,
                    webhook,
                    order,
                    due_back_seconds=settings.broadcaster_retry_max_seconds + ack_wait,
                )
                consumer = DurableConsumer(
                    nc,
                    spec,
                    handler,
                    settings.consumer_options(),
                    count=lambda outcome: MESSAGES_PROCESSED.labels(outcome).inc(),
                )
                await consumer.start()
                consumers.append(consumer)
                handlers.append(handler)

            link = NatsLink(settings, SERVICE, bind, probe_stream=spec.stream.name)
            link.start()
            monitor = asyncio.create_task(watch_consumer_state())
            app.state.link = link
            try:
                yield
            finally:
                monitor.cancel()
                for consumer in consumers:
                    await consumer.stop(STOP_GRACE_SECONDS)
                for handler in handlers:
                    await handler.finish()
                await link.close()

    async def watch_consumer_state() -> None:
        while True:
            await refresh_consumer_state()
            await asyncio.sleep(MONITOR_SECONDS)

    async def refresh_consumer_state() -> str | None:
        if not consumers:
            return None
        state = await consumers[0].state()
        if state is None:
            return f"consumer {spec.durable} unavailable"
        CONSUMER_PENDING.set(state[0])
        CONSUMER_ACK_PENDING.set(state[1])
        return None

    async def consumer_ready() -> str | None:
        link: NatsLink | None = app.state.get("link")
        if link is None:
            return "starting"
        return link.readiness() or await refresh_consumer_state()

    app = service_app(
        service=SERVICE, route_handlers=[], readiness=[consumer_ready], lifespan=[lifespan]
    )
    return app
