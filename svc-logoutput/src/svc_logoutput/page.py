"""The plain-text page: each line says its value or why it is unavailable."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import anyio

from svc_logoutput.dependencies import Dependencies, DependencyUnavailable, Greeting
from svc_logoutput.heartbeat import Heartbeat

T = TypeVar("T")


async def _file_content(info_file: Path | None) -> str:
    if info_file is None:
        return "unavailable (INFO_FILE not set)"
    try:
        return (await anyio.Path(info_file).read_text()).strip()
    except OSError as exc:
        return f"unavailable ({exc.strerror or type(exc).__name__}: {info_file})"


async def _or_reason(call: Awaitable[T]) -> T | str:
    try:
        return await call
    except DependencyUnavailable as exc:
        return f"unavailable ({exc})"


def _shown(greeting: Greeting | str) -> str:
    """The version too, so a person reloading the page sees the mesh's split."""
    if isinstance(greeting, Greeting):
        return f"{greeting.text} (greeter {greeting.version})"
    return greeting


async def render(
    *, info_file: Path | None, message: str, heartbeat: Heartbeat, dependencies: Dependencies
) -> str:
    """Both dependencies are asked at once, so a slow one costs one timeout, not two."""
    content, pings, greeting = await asyncio.gather(
        _file_content(info_file),
        _or_reason(dependencies.pings()),
        _or_reason(dependencies.greeting()),
    )
    lines = [
        f"file content: {content}",
        f"env variable: MESSAGE={message}",
        heartbeat.line(),
        f"Ping / Pongs: {pings}",
        f"greetings: {_shown(greeting)}",
    ]
    return "\n".join(lines) + "\n"
