"""The hourly image: fetched at most once per interval, written atomically, served stale.

The file's modification time records when it was fetched, so the schedule survives restarts.
Requests never wait for the source: a stale image is served while a refresh runs in the
background, and a failed fetch is not retried before `retry_after` has passed. Nor does the
service's start wait for the HTTP client: httpx's transport and the CA certificates it loads
cost about 85 ms of CPU, so the first refresh builds the client, on a worker thread.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import tempfile
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

MAX_IMAGE_BYTES = 10 * 1024 * 1024
TIMEOUT_SECONDS = 10.0
CONNECT_TIMEOUT_SECONDS = 3.0
FETCHING = "Fetching the first image…"


def placeholder_svg(message: str) -> bytes:
    """What stands in for the image until there is one: the same size, saying why."""
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="1200" height="600" viewBox="0 0 1200 600">'
        '<rect width="1200" height="600" fill="#dfe6ee"/><text x="600" y="310" font-size="32" '
        'text-anchor="middle" fill="#5b6b7c" font-family="sans-serif">'
        f"{html.escape(message)}</text></svg>"
    ).encode()


def _every(seconds: float) -> str:
    if seconds == 60:
        return "every minute"
    if seconds < 60:
        return f"every {seconds:g} seconds"
    return f"every {seconds / 60:g} minutes"


class HourlyImage:
    def __init__(
        self,
        directory: Path,
        source_url: str,
        *,
        refresh_seconds: float,
        user_agent: str,
        retry_after_seconds: float = 60.0,
    ) -> None:
        self.path = directory / "image"
        self._directory = directory
        self._source_url = source_url
        self._refresh_seconds = refresh_seconds
        self._retry_after = retry_after_seconds
        self._user_agent = user_agent
        self._client: httpx.AsyncClient | None = None
        self._last_attempt = float("-inf")
        self._failed = False  # the last attempt failed
        self._refreshing: asyncio.Task[None] | None = None

    def exists(self) -> bool:
        return self.path.exists()

    def is_stale(self) -> bool:
        try:
            age = time.time() - self.path.stat().st_mtime
        except FileNotFoundError:
            return True
        return age >= self._refresh_seconds

    def version(self) -> int:
        """Changes whenever a new image is written, so pages can ask for it by a fresh URL."""
        return self.path.stat().st_mtime_ns

    def status(self) -> str | None:
        """What a person reads instead of the image while there is none; None once there is."""
        if self.exists():
            return None
        if not self._failed:
            return FETCHING
        retrying = _every(self._retry_after)
        return f"No image yet: the image source is unavailable. Retrying {retrying}."

    def content_type(self) -> str:
        header = self.path.with_suffix(".type")
        return header.read_text().strip() if header.exists() else "image/jpeg"

    def refresh_in_background(self) -> None:
        """Start a refresh if the image is stale and none is running or recently failed."""
        due = time.monotonic() - self._last_attempt >= self._retry_after
        if self.is_stale() and due and (self._refreshing is None or self._refreshing.done()):
            self._refreshing = asyncio.create_task(self.refresh())

    async def refresh(self) -> None:
        self._last_attempt = time.monotonic()
        client = await self._http_client()
        import httpx  # loaded by now: the client is built

        try:
            response = await client.get(self._source_url, follow_redirects=True)
            response.raise_for_status()
            content_type = response.headers.get("content-type", "").split(";")[0].strip()
            if not content_type.startswith("image/"):
                raise ValueError(f"source answered {content_type or 'no content type'}")
            if len(response.content) > MAX_IMAGE_BYTES:
                raise ValueError(f"image of {len(response.content)} bytes is too large")
        except (httpx.HTTPError, ValueError) as exc:
            self._failed = True
            log.warning("image refresh failed; serving the previous one", extra={"error": str(exc)})
            return
        self._write_atomically(response.content, content_type)
        self._failed = False
        log.info("image refreshed", extra={"bytes": len(response.content)})

    def _write_atomically(self, content: bytes, content_type: str) -> None:
        self._directory.mkdir(parents=True, exist_ok=True)
        for target, data in (
            (self.path.with_suffix(".type"), content_type.encode()),
            (self.path, content),
        ):
            fd, temporary = tempfile.mkstemp(dir=self._directory, prefix=".image-")
            with os.fdopen(fd, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, target)

    async def _http_client(self) -> httpx.AsyncClient:
        if self._client is None:
            self._client = await asyncio.to_thread(_new_client, self._user_agent)
        return self._client

    async def close(self) -> None:
        if self._refreshing is not None and not self._refreshing.done():
            self._refreshing.cancel()
            with suppress(asyncio.CancelledError):
                await self._refreshing
        if self._client is not None:
            await self._client.aclose()


def _new_client(user_agent: str) -> httpx.AsyncClient:
    import httpx

    return httpx.AsyncClient(
        timeout=httpx.Timeout(TIMEOUT_SECONDS, connect=CONNECT_TIMEOUT_SECONDS),
        headers={"User-Agent": user_agent},
    )
