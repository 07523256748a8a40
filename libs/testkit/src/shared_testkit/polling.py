"""Wait for a condition with a deadline: the only synchronisation tests use."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    *,
    timeout: float = 10.0,
    interval: float = 0.05,
    message: str = "condition not met",
) -> T:
    """Call `probe` until it returns a truthy value (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            last = await probe()
            if last:
                return last
        except Exception as exc:  # noqa: BLE001 - a probe may fail until the system is up
            last_error = exc
        await asyncio.sleep(interval)
    raise AssertionError(f"{message} within {timeout}s (last={last!r}, error={last_error!r})")


def wait_until(
    probe: Callable[[], T], *, timeout: float = 10.0, interval: float = 0.05, message: str = ""
) -> T:
    """Synchronous twin of `eventually`, for process-level fixtures."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while time.monotonic() < deadline:
        try:
            if result := probe():
                return result
        except Exception as exc:  # noqa: BLE001 - a probe may fail until the system is up
            last_error = exc
        time.sleep(interval)
    raise AssertionError(f"{message or 'condition not met'} within {timeout}s ({last_error!r})")
