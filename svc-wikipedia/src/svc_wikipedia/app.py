"""Wiring: the HTTP trigger, the NATS consumer and the scheduler around one Suggester."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import cast

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import ServiceUnavailableException
from nats.aio.client import Client

from shared_contracts.catalog import DLQ, TODO_COMMANDS, WIKIPEDIA, WIKIPEDIA_CONSUMER
from shared_runtime.delivery import DurableConsumer
from shared_runtime.messaging import NatsLink, declare_streams
from shared_runtime.web import service_app
from svc_wikipedia.api import receive_cloudevent
from svc_wikipedia.consumer import STOP_GRACE_SECONDS, SuggestOnRequest, consumer_options
from svc_wikipedia.scheduler import Clock, Scheduler, utc_now
from svc_wikipedia.settings import WikipediaSettings
from svc_wikipedia.suggestions import Suggester
from svc_wikipedia.wikipedia import open_wikipedia

SERVICE = "svc-wikipedia"
STREAMS = (WIKIPEDIA, TODO_COMMANDS, DLQ)
"""What this service consumes from and publishes to, declared when running locally."""


def create_app(settings: WikipediaSettings, *, clock: Clock = utc_now) -> Litestar:
    """The service; `clock` decides the scheduler's slots (tests pin it). NATS is connected in
    the background: HTTP answers from the start, and `/readyz` says what is missing meanwhile."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        running: list[DurableConsumer | Scheduler] = []

        async def start_triggers(nc: Client) -> None:
            js = nc.jetstream()
            if settings.declare_streams:
                await declare_streams(js, STREAMS)
            suggester = Suggester(wikipedia, js)
            if settings.consume_nats_requests:
                consumer = DurableConsumer(
                    nc, WIKIPEDIA_CONSUMER, SuggestOnRequest(suggester), consumer_options(settings)
                )
                await consumer.start()
                running.append(consumer)
            if settings.suggest_every_minutes:
                scheduler = Scheduler(js, timedelta(minutes=settings.suggest_every_minutes), clock)
                await scheduler.start()
                running.append(scheduler)
            app.state.suggester = suggester

        async with open_wikipedia(settings) as wikipedia:
            link = NatsLink(settings, SERVICE, start_triggers)
            link.start()
            app.state.link = link
            try:
                yield
            finally:
                for trigger in reversed(running):
                    if isinstance(trigger, Scheduler):
                        await trigger.stop()
                    else:
                        await trigger.stop(STOP_GRACE_SECONDS)
                await link.close()

    async def nats_ready() -> str | None:
        link: NatsLink | None = app.state.get("link")
        return "starting" if link is None else link.readiness()

    app = service_app(
        service=SERVICE,
        route_handlers=[receive_cloudevent],
        readiness=[nats_ready],
        lifespan=[lifespan],
        dependencies={"suggester": Provide(_suggester, sync_to_thread=False)},
    )
    return app


def _suggester(state: State) -> Suggester:
    suggester = state.get("suggester")
    if suggester is None:
        raise ServiceUnavailableException(
            detail="not connected to NATS yet", headers={"Retry-After": "5"}
        )
    return cast(Suggester, suggester)
