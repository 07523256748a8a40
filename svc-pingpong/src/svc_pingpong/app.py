"""Wires ping-pong: the database engine, the counter, and readiness on the database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from litestar import Litestar
from litestar.di import Provide

from shared_runtime.database import bind, engine_for
from shared_runtime.web import service_app
from svc_pingpong.api import pingpong, pings
from svc_pingpong.counter import PongCounter
from svc_pingpong.models import TABLES
from svc_pingpong.settings import PingpongSettings


def create_app(settings: PingpongSettings) -> Litestar:
    engine = engine_for(settings.database_url, settings.data_dir, "pingpong.sqlite")
    bind(TABLES, engine)
    counter = PongCounter(
        engine,
        pool_size=settings.database_pool_size,
        retry_max_seconds=settings.database_retry_max_seconds,
    )

    @contextlib.asynccontextmanager
    async def database_lifespan(_: Litestar) -> AsyncIterator[None]:
        preparing = asyncio.create_task(counter.prepare())
        try:
            yield
        finally:
            preparing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await preparing
            await counter.close()

    def provide_counter() -> PongCounter:
        return counter

    return service_app(
        service="svc-pingpong",
        route_handlers=[pingpong, pings],
        readiness=[counter.readiness],
        dependencies={"counter": Provide(provide_counter, use_cache=True, sync_to_thread=False)},
        lifespan=[database_lifespan],
    )
