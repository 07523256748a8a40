"""Wires log output: the heartbeat task and one HTTP client for both dependencies.

Both dependencies are soft: the page names the one that is down and still answers, so readiness
checks neither. In particular it never calls svc-pingpong, a scale-to-zero function that a probe
every few seconds would keep awake forever."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TypeVar

import httpx
from litestar import Litestar
from litestar.di import Provide

from shared_runtime.web import service_app
from svc_logoutput.api import page
from svc_logoutput.dependencies import Dependencies
from svc_logoutput.heartbeat import Heartbeat
from svc_logoutput.settings import LogOutputSettings

T = TypeVar("T")


def _provide(value: T) -> Provide:
    def provider() -> T:
        return value

    return Provide(provider, use_cache=True, sync_to_thread=False)


def create_app(settings: LogOutputSettings) -> Litestar:
    heartbeat = Heartbeat(settings.heartbeat_seconds)
    client = httpx.AsyncClient(timeout=settings.dependency_timeout_seconds)
    dependencies = Dependencies(
        client, pingpong_url=settings.pingpong_url, greeter_url=settings.greeter_url
    )

    @contextlib.asynccontextmanager
    async def heartbeat_and_client(_: Litestar) -> AsyncIterator[None]:
        beating = asyncio.create_task(heartbeat.run())
        try:
            yield
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
            await client.aclose()

    return service_app(
        service="svc-logoutput",
        route_handlers=[page],
        dependencies={
            "settings": _provide(settings),
            "heartbeat": _provide(heartbeat),
            "dependencies": _provide(dependencies),
        },
        lifespan=[heartbeat_and_client],
    )
