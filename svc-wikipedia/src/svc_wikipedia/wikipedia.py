"""Talking to Wikipedia: which article `Special:Random` points at, and an article's HTML.

Resolving reads only the redirect's `Location` header, never the article, so a suggestion costs
one small request. Every failure is a `WikipediaUnavailable` with a `kind` for metrics and logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import TypeVar
from urllib.parse import urljoin, urlsplit

import httpx

from svc_wikipedia.settings import WikipediaSettings

log = logging.getLogger(__name__)

RANDOM_ARTICLE_PATH = "/wiki/Special:Random"
ARTICLE_PATH_PREFIX = "/wiki/"
USER_AGENT = (
    "svc-wikipedia/0.1 (reading suggestions for an event-driven todo reference project) "
    f"httpx/{httpx.__version__}"
)
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})

T = TypeVar("T")


class FailureKind(StrEnum):
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    SERVER_ERROR = "server_error"
    BAD_RESPONSE = "bad_response"
    URL_TOO_LONG = "url_too_long"


class WikipediaUnavailable(Exception):
    """No usable answer from Wikipedia after every try; asking again later may work."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind


@asynccontextmanager
async def open_wikipedia(settings: WikipediaSettings) -> AsyncIterator[WikipediaClient]:
    """A client with the project's User-Agent and timeouts, closed on exit."""
    async with httpx.AsyncClient(
        base_url=settings.wikipedia_base_url,
        headers={"User-Agent": USER_AGENT},
        timeout=httpx.Timeout(settings.wikipedia_timeout_seconds),
        follow_redirects=False,
    ) as http:
        yield WikipediaClient(
            http,
            attempts=settings.wikipedia_attempts,
            backoff_seconds=settings.wikipedia_backoff_seconds,
        )


class WikipediaClient:
    def __init__(self, http: httpx.AsyncClient, *, attempts: int, backoff_seconds: float) -> None:
        self._http = http
        self._attempts = attempts
        self._backoff_seconds = backoff_seconds

    async def random_article_url(self, *, max_length: int) -> str:
        """The absolute URL `Special:Random` redirects to, drawing again if it is too long."""
        return await self._retrying(lambda: self._resolve_once(max_length))

    async def page_html(self, url: str | None = None) -> bytes:
        """The HTML of `url`, or of a random article when no URL is given."""
        return await self._retrying(lambda: self._download_once(url or RANDOM_ARTICLE_PATH))

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        pause = self._backoff_seconds
        for number in range(1, self._attempts):
            try:
                return await attempt()
            except WikipediaUnavailable as failure:
                log.warning(
                    "wikipedia attempt failed, retrying",
                    extra={"kind": failure.kind.value, "error": str(failure), "attempt": number},
                )
            await asyncio.sleep(pause)
            pause *= 2
        return await attempt()

    async def _resolve_once(self, max_length: int) -> str:
        try:
            async with self._http.stream("GET", RANDOM_ARTICLE_PATH) as response:
                _raise_for_server_error(response)
                if response.status_code not in REDIRECT_STATUSES:
                    raise WikipediaUnavailable(
                        FailureKind.BAD_RESPONSE,
                        f"expected a redirect from {RANDOM_ARTICLE_PATH}, "
                        f"got HTTP {response.status_code}",
                    )
                url = article_url(str(response.url), response.headers.get("location"))
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _request_failure(exc) from exc
        if len(url) > max_length:
            raise WikipediaUnavailable(
                FailureKind.URL_TOO_LONG, f"article URL has {len(url)} characters: {url}"
            )
        return url

    async def _download_once(self, url: str) -> bytes:
        try:
            response = await self._http.get(url, follow_redirects=True)
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise _request_failure(exc) from exc
        _raise_for_server_error(response)
        if response.status_code != 200:
            raise WikipediaUnavailable(
                FailureKind.BAD_RESPONSE, f"GET {url} answered HTTP {response.status_code}"
            )
        return response.content


def article_url(request_url: str, location: str | None) -> str:
    """The absolute article URL a `Location` header names, or BAD_RESPONSE if it names none."""
    if not location or not location.isprintable() or " " in location:
        raise WikipediaUnavailable(
            FailureKind.BAD_RESPONSE, f"redirect without a usable Location: {location!r}"
        )
    url = urljoin(request_url, location)
    parts = urlsplit(url)
    title = parts.path.removeprefix(ARTICLE_PATH_PREFIX)
    if (
        parts.scheme not in ("http", "https")
        or not parts.netloc
        or not parts.path.startswith(ARTICLE_PATH_PREFIX)
        or not title
        or title.startswith("Special:")
    ):
        raise WikipediaUnavailable(
            FailureKind.BAD_RESPONSE, f"redirect does not point at an article: {location!r}"
        )
    return url


def _raise_for_server_error(response: httpx.Response) -> None:
    if response.status_code >= 500 or response.status_code == 429:
        raise WikipediaUnavailable(
            FailureKind.SERVER_ERROR, f"Wikipedia answered HTTP {response.status_code}"
        )


def _request_failure(exc: httpx.HTTPError | httpx.InvalidURL) -> WikipediaUnavailable:
    """What went wrong, in words a caller may see; the exception itself (addresses included)
    only in the log."""
    log.warning("wikipedia request failed", extra={"error": repr(exc)})
    if isinstance(exc, httpx.InvalidURL):
        return WikipediaUnavailable(FailureKind.BAD_RESPONSE, "redirect to an invalid URL")
    if isinstance(exc, httpx.TimeoutException):
        return WikipediaUnavailable(FailureKind.TIMEOUT, "Wikipedia timed out")
    return WikipediaUnavailable(FailureKind.UNREACHABLE, "Wikipedia unreachable")
