"""Wiring: the HTTP trigger, the NATS consumer and the scheduler around one Suggester.

In Knative (the scale-to-zero function) only the HTTP trigger runs: the NATS consumer is switched
off there and imported only when switched on, so the cold path loads neither it (nor the shared
delivery path) nor any web framework.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta

from nats.aio.client import Client

from shared_contracts.catalog import DLQ, TODO_COMMANDS, WIKIPEDIA, WIKIPEDIA_CONSUMER
from shared_runtime.asgi import ASGIApp
from shared_runtime.messaging import NatsLink, declare_streams
from shared_runtime.telemetry import is_recording
from svc_wikipedia.http import WikipediaHttp, traced
from svc_wikipedia.scheduler import Clock, Scheduler, utc_now
from svc_wikipedia.settings import WikipediaSettings
from svc_wikipedia.suggestions import Suggester
from svc_wikipedia.wikipedia import TrustStore, open_wikipedia

SERVICE = "svc-wikipedia"
STREAMS = (WIKIPEDIA, TODO_COMMANDS, DLQ)
"""What this service consumes from and publishes to, declared when running locally."""


def create_app(
    settings: WikipediaSettings,
    *,
    clock: Clock = utc_now,
    trust_store: TrustStore | None = None,
) -> ASGIApp:
    """The service; `clock` decides the scheduler's slots (tests pin it), `trust_store` may
    already be loading (main starts it first). NATS is connected in the background: HTTP
    answers from the start, and `/readyz` says what is missing meanwhile."""
    links: list[NatsLink] = []

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        stops: list[Callable[[], Awaitable[None]]] = []
        """What to stop at shutdown, in reverse order of starting."""

        async def start_triggers(nc: Client) -> None:
            js = nc.jetstream()
            if settings.declare_streams:
                await declare_streams(js, STREAMS)
            suggester = Suggester(wikipedia, js)
            if settings.consume_nats_requests:
                from shared_runtime.delivery import DurableConsumer
                from svc_wikipedia.consumer import (
                    STOP_GRACE_SECONDS,
                    SuggestOnRequest,
                    consumer_options,
                )

                consumer = DurableConsumer(
                    nc, WIKIPEDIA_CONSUMER, SuggestOnRequest(suggester), consumer_options(settings)
                )
                await consumer.start()
                stops.append(lambda: consumer.stop(STOP_GRACE_SECONDS))
            if settings.suggest_every_minutes:
                scheduler = Scheduler(js, timedelta(minutes=settings.suggest_every_minutes), clock)
                await scheduler.start()
                stops.append(scheduler.stop)
            http.suggester = suggester

        async with open_wikipedia(settings, trust_store) as wikipedia:
            link = NatsLink(settings, SERVICE, start_triggers)
            link.start()
            links.append(link)
            try:
                yield
            finally:
                for stop in reversed(stops):
                    await stop()
                await link.close()

    async def nats_ready() -> str | None:
        return links[0].readiness() if links else "starting"

    http = WikipediaHttp(SERVICE, readiness=[nats_ready], lifespan=lifespan)
    return traced(http, recording=is_recording())
