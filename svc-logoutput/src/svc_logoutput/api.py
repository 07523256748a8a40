"""The page route."""

from __future__ import annotations

from litestar import MediaType, get
from litestar.di import NamedDependency

from svc_logoutput.dependencies import Dependencies
from svc_logoutput.heartbeat import Heartbeat
from svc_logoutput.page import render
from svc_logoutput.settings import LogOutputSettings


@get("/", media_type=MediaType.TEXT)
async def page(
    settings: NamedDependency[LogOutputSettings],
    heartbeat: NamedDependency[Heartbeat],
    dependencies: NamedDependency[Dependencies],
) -> str:
    return await render(
        info_file=settings.info_file,
        message=settings.message,
        heartbeat=heartbeat,
        dependencies=dependencies,
    )
