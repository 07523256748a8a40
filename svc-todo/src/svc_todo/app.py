"""Wires svc-todo: database, outbox relay, NATS triggers, page, API and operations endpoints."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path

import httpx
from faststream.nats import JStream, NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.security import NatsCredentials, NatsSecurity, NatsUserPassword
from faststream.specification import AsyncAPI
from litestar import Litestar, MediaType, get
from litestar.di import Provide
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from shared_contracts.catalog import DLQ, TODO_COMMANDS, TODO_EVENTS, TODOS
from shared_runtime.database import (
    DATABASE_UNAVAILABLE,
    DatabaseGate,
    bind,
    close_engine,
    engine_for,
)
from shared_runtime.messaging import connect_options, declare_streams, publish_event
from shared_runtime.web import database_unavailable_response, service_app
from svc_todo.api import TodoController
from svc_todo.commands import command_router
from svc_todo.image import HourlyImage
from svc_todo.live import LiveUpdates, live_router
from svc_todo.models import MIGRATIONS, TABLES
from svc_todo.outbox import OutboxRelay, PendingEvent
from svc_todo.page import PageController
from svc_todo.rejections import Rejected, rejection_response
from svc_todo.service import TodoService
from svc_todo.settings import TodoSettings

log = logging.getLogger(__name__)

SERVICE = "svc-todo"
PACKAGE_DIR = Path(__file__).parent


def broker_security(settings: TodoSettings) -> NatsSecurity | None:
    """The service's NATS credentials in FastStream's terms."""
    if settings.nats_creds:
        return NatsCredentials.from_file(settings.nats_creds)
    if settings.nats_user:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        return NatsUserPassword(settings.nats_user, password)
    return None


def create_broker(settings: TodoSettings) -> NatsBroker:
    broker = NatsBroker(
        **connect_options(settings, SERVICE),
        security=broker_security(settings),
        middlewares=[NatsTelemetryMiddleware()],
        logger=logging.getLogger("svc_todo.messaging"),
    )
    for channel in TODO_EVENTS:
        broker.publisher(
            channel.subject,
            stream=JStream(channel.stream.name, declare=False),
            schema=channel.model,
            title=channel.event_type,
            description=f"CloudEvent `{channel.event_type}`, published from the outbox.",
        )
    return broker


async def start_messaging(broker: NatsBroker, settings: TodoSettings, relay: OutboxRelay) -> None:
    """Connect in the background, retrying: the API accepts writes while NATS is away."""
    attempt = 0
    while True:
        try:
            await broker.connect()
            if settings.declare_streams:
                await declare_streams(jetstream(broker), (TODOS, TODO_COMMANDS, DLQ))
            await broker.start()
        except Exception as exc:  # noqa: BLE001 - keep trying; readiness does not depend on NATS
            attempt += 1
            log.warning("NATS not available yet", extra={"error": repr(exc), "attempt": attempt})
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
            continue
        log.info("NATS connected, consumers running")
        relay.wake()
        return


async def stop_messaging(broker: NatsBroker) -> None:
    try:
        await broker.stop()
    except NatsError as exc:  # reconnecting or closed: nothing left to drain
        log.warning("NATS connection closed uncleanly", extra={"error": repr(exc)})


def jetstream(broker: NatsBroker) -> JetStreamContext:
    return broker.config.connection_state.stream  # type: ignore[no-any-return]


def create_app(settings: TodoSettings) -> Litestar:
    engine = engine_for(settings.database_url, settings.data_dir, "todo.sqlite")
    bind(TABLES, engine)
    broker = create_broker(settings)

    async def publish(pending: PendingEvent) -> None:
        await publish_event(jetstream(broker), pending.subject, pending.event)

    relay = OutboxRelay(
        engine,
        publish,
        sweep_seconds=settings.outbox_sweep_seconds,
        batch_size=settings.outbox_batch_size,
    )
    todos = TodoService(engine, on_commit=relay.wake)
    live = LiveUpdates()
    broker.include_router(command_router(todos, max_deliver=settings.command_max_deliver))
    broker.include_router(live_router(live))
    http_client = httpx.AsyncClient(
        timeout=httpx.Timeout(10.0, connect=3.0), headers={"User-Agent": f"{SERVICE}/0.1"}
    )
    image = HourlyImage(
        settings.data_dir / "image",
        settings.image_source_url,
        refresh_seconds=settings.image_refresh_minutes * 60,
        client=http_client,
    )

    database = DatabaseGate(engine, MIGRATIONS)

    async def start_background_work() -> None:
        await database.prepared()
        await start_messaging(broker, settings, relay)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        tasks = [
            asyncio.create_task(database.prepare()),
            asyncio.create_task(start_background_work()),
            asyncio.create_task(relay.run(after=database.prepared)),
        ]
        image.refresh_in_background()
        try:
            yield
        finally:
            live.close()
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            if database.is_prepared:
                await relay.flush()
            await stop_messaging(broker)
            await image.close()
            await http_client.aclose()
            await close_engine(engine)

    @get("/asyncapi.json", include_in_schema=False, media_type=MediaType.JSON)
    async def asyncapi() -> str:
        return AsyncAPI(broker, title=SERVICE, version="0.1.0").to_specification().to_json()

    app = service_app(
        service=SERVICE,
        route_handlers=[
            TodoController,
            PageController,
            asyncapi,
            create_static_files_router(path="/static", directories=[PACKAGE_DIR / "static"]),
        ],
        readiness=[database.readiness],
        lifespan=[lifespan],
        dependencies={
            "todos": Provide(lambda: todos, sync_to_thread=False),
            "live": Provide(lambda: live, sync_to_thread=False),
            "image": Provide(lambda: image, sync_to_thread=False),
        },
        exception_handlers={
            Rejected: rejection_response,
            **{error: database_unavailable_response for error in DATABASE_UNAVAILABLE},
        },
        template_config=TemplateConfig(
            directory=PACKAGE_DIR / "templates", engine=JinjaTemplateEngine
        ),
        openapi_config=OpenAPIConfig(title=SERVICE, version="0.1.0"),
    )
    app.state.live = live
    return app
