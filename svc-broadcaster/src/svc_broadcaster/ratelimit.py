"""A token bucket that spaces out webhook calls, and that a 429 can pause."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    """`rate` calls per second with bursts of `burst`; rate 0 means unlimited (pauses still apply).

    Waiters queue on one lock, so they are served in arrival order.
    """

    def __init__(self, rate: float, burst: int) -> None:
        self._rate = rate
        self._burst = float(burst)
        self._tokens = float(burst)
        self._updated = time.monotonic()
        self._paused_until = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                wait = self._take()
                if wait <= 0:
                    return
                await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        """Hold every caller back, e.g. for the `Retry-After` of a 429 from the destination."""
        self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def _take(self) -> float:
        """Take a token and return 0, or return how long to wait before trying again."""
        now = time.monotonic()
        if now < self._paused_until:
            return self._paused_until - now
        if self._rate == 0:
            return 0.0
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now
        if self._tokens >= 1:
            self._tokens -= 1
            return 0.0
        return (1 - self._tokens) / self._rate
