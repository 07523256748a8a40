"""Wires svc-todo: database, outbox relay, NATS triggers, page, API and operations endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta
from pathlib import Path
from typing import Any

from litestar import Litestar, MediaType, get
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template import TemplateConfig

from shared_runtime.database import (
    DATABASE_UNAVAILABLE,
    DatabaseGate,
    bind,
    close_engine,
    engine_for,
)
from shared_runtime.web import database_unavailable_response, service_app
from svc_todo.api import TodoController
from svc_todo.commands import CreateTodoOnCommand
from svc_todo.housekeeping import Retention, keep_tidy
from svc_todo.image import HourlyImage
from svc_todo.live import LiveUpdates
from svc_todo.messaging import TodoMessaging, asyncapi
from svc_todo.models import MIGRATIONS, TABLES
from svc_todo.outbox import OutboxRelay
from svc_todo.page import PageController
from svc_todo.rejections import Rejected, no_such_file, rejection_response
from svc_todo.service import TodoService
from svc_todo.settings import SERVICE, TodoSettings

PACKAGE_DIR = Path(__file__).parent


def create_app(settings: TodoSettings) -> Litestar:
    engine = engine_for(settings.database_url, settings.data_dir, "todo.sqlite")
    bind(TABLES, engine)
    live = LiveUpdates()
    messaging = TodoMessaging(settings, live)
    relay = OutboxRelay(
        engine,
        messaging.publish,
        sweep_seconds=settings.outbox_sweep_seconds,
        batch_size=settings.outbox_batch_size,
    )
    retention = Retention(
        published_events=timedelta(minutes=settings.outbox_retention_minutes),
        idempotency_keys=timedelta(hours=settings.idempotency_retention_hours),
    )
    todos = TodoService(engine, on_commit=relay.wake)
    image = HourlyImage(
        settings.data_dir / "image",
        settings.image_source_url,
        refresh_seconds=settings.image_refresh_minutes * 60,
        user_agent=f"{SERVICE}/0.1",
    )

    database = DatabaseGate(engine, MIGRATIONS)

    @asynccontextmanager
    async def lifespan(_: Litestar) -> AsyncIterator[None]:
        async def start_messaging() -> None:
            await database.prepared()  # commands write todos: the schema must exist first
            messaging.start(commands=CreateTodoOnCommand(todos), on_ready=relay.wake)

        async def prefetch_image() -> None:
            # Once ready: the image's HTTP client costs about 60 ms of CPU the start can spare.
            await database.prepared()
            image.refresh_in_background()

        tasks = [
            asyncio.create_task(database.prepare()),
            asyncio.create_task(start_messaging()),
            asyncio.create_task(relay.run(after=database.prepared)),
            asyncio.create_task(
                keep_tidy(retention, settings.housekeeping_seconds, after=database.prepared)
            ),
            asyncio.create_task(prefetch_image()),
        ]
        try:
            yield
        finally:
            live.close()
            for task in tasks:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task
            await messaging.stop()
            if database.is_prepared:
                await relay.flush()
            await messaging.close()
            await image.close()
            await close_engine(engine)

    @get("/asyncapi.json", include_in_schema=False, media_type=MediaType.JSON)
    async def asyncapi_document() -> dict[str, Any]:
        return asyncapi(settings)

    app = service_app(
        service=SERVICE,
        route_handlers=[
            TodoController,
            PageController,
            asyncapi_document,
            create_static_files_router(
                path="/static",
                directories=[PACKAGE_DIR / "static"],
                # a path no file can have (a NUL in it) is not found, not a server error; and a
                # 404 does not echo the path asked for
                exception_handlers={ValueError: no_such_file, NotFoundException: no_such_file},
            ),
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
