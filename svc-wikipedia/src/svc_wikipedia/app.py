"""Wiring: the HTTP trigger, the NATS consumer and the scheduler around one Suggester."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import cast

import nats.errors
from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from nats.aio.client import Client

from shared_contracts.catalog import DLQ, TODO_COMMANDS, WIKIPEDIA
from shared_runtime.messaging import connect, declare_streams
from shared_runtime.web import service_app
from svc_wikipedia.api import receive_cloudevent
from svc_wikipedia.consumer import Redelivery, RequestConsumer
from svc_wikipedia.scheduler import Clock, Scheduler, utc_now
from svc_wikipedia.settings import WikipediaSettings
from svc_wikipedia.suggestions import Suggester
from svc_wikipedia.wikipedia import open_wikipedia

SERVICE = "svc-wikipedia"
STREAMS = (WIKIPEDIA, TODO_COMMANDS, DLQ)
"""What this service consumes from and publishes to, declared when running locally."""


def create_app(settings: WikipediaSettings, *, clock: Clock = utc_now) -> Litestar:
    """The service; `clock` decides the scheduler's slots (tests pin it)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with open_wikipedia(settings) as wikipedia, _nats(settings) as nc:
            js = nc.jetstream()
            if settings.declare_streams:
                await declare_streams(js, STREAMS)
            suggester = Suggester(wikipedia, js)
            consumer = RequestConsumer(
                js,
                suggester,
                Redelivery(
                    first_delay_seconds=settings.redelivery_delay_seconds,
                    max_delay_seconds=settings.redelivery_max_delay_seconds,
                    max_deliver=settings.max_deliver,
                ),
            )
            if settings.consume_nats_requests:
                await consumer.start()
            scheduler = None
            if settings.suggest_every_minutes:
                scheduler = Scheduler(js, timedelta(minutes=settings.suggest_every_minutes), clock)
                await scheduler.start()
            app.state.nats = nc
            app.state.suggester = suggester
            try:
                yield
            finally:
                if scheduler is not None:
                    await scheduler.stop()
                if settings.consume_nats_requests:
                    await consumer.stop()

    async def nats_connected() -> str | None:
        nc: Client | None = app.state.get("nats")
        return None if nc is not None and nc.is_connected else "nats not connected"

    app = service_app(
        service=SERVICE,
        route_handlers=[receive_cloudevent],
        readiness=[nats_connected],
        lifespan=[lifespan],
        dependencies={"suggester": Provide(_suggester, sync_to_thread=False)},
    )
    return app


def _suggester(state: State) -> Suggester:
    return cast(Suggester, state.suggester)


@asynccontextmanager
async def _nats(settings: WikipediaSettings) -> AsyncIterator[Client]:
    """A connection that is drained on exit, so acks and publishes in flight are delivered."""
    nc = await connect(settings, SERVICE)
    try:
        yield nc
    finally:
        with contextlib.suppress(nats.errors.Error):
            await nc.drain()
