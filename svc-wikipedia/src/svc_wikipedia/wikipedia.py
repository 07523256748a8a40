"""Talking to Wikipedia: which article `Special:Random` points at, and an article's HTML.

Resolving reads only the redirect's `Location` header, never the article, so a suggestion costs
one small request, sent without an HTTP library (see `redirect`); downloading a page (the
`fetch-page` command) uses httpx. Every failure is a `WikipediaUnavailable` with a `kind` for
metrics and logs.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import urljoin, urlsplit

from svc_wikipedia.redirect import get_head
from svc_wikipedia.settings import WikipediaSettings

if TYPE_CHECKING:
    import httpx

log = logging.getLogger(__name__)

RANDOM_ARTICLE_PATH = "/wiki/Special:Random"
ARTICLE_PATH_PREFIX = "/wiki/"
USER_AGENT = (
    "svc-wikipedia/0.1 (reading suggestions for an event-driven todo reference project) "
    f"Python/{sys.version_info.major}.{sys.version_info.minor}"
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


class TrustStore:
    """The CA certificates Wikipedia's TLS certificate is checked against (`cafile`, by default
    certifi's bundle, which httpx uses too), loaded once on a worker thread: OpenSSL releases the
    GIL while it parses them, so a cold start that calls `start` early loads them (about 15 ms)
    while it imports the rest."""

    def __init__(self, cafile: str | None = None) -> None:
        self._cafile = cafile
        self._loading: Future[ssl.SSLContext] | None = None

    def start(self) -> Future[ssl.SSLContext]:
        if self._loading is None:
            worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="trust-store")
            self._loading = worker.submit(_verifying_context, self._cafile)
            worker.shutdown(wait=False)
        return self._loading

    async def context(self) -> ssl.SSLContext:
        return await asyncio.wrap_future(self.start())


def preloaded_trust_store(settings: WikipediaSettings) -> TrustStore:
    """A trust store already loading if Wikipedia is reached over TLS (it then is needed)."""
    trust_store = TrustStore()
    if _is_https(settings.wikipedia_base_url):
        trust_store.start()
    return trust_store


def _verifying_context(cafile: str | None) -> ssl.SSLContext:
    if cafile is None:
        import certifi

        cafile = certifi.where()
    return ssl.create_default_context(cafile=cafile)


@asynccontextmanager
async def open_wikipedia(
    settings: WikipediaSettings, trust_store: TrustStore | None = None
) -> AsyncIterator[WikipediaClient]:
    """A client with the project's User-Agent, timeouts and retries; closed on exit."""
    client = WikipediaClient(settings, trust_store or TrustStore())
    try:
        yield client
    finally:
        await client.aclose()


class WikipediaClient:
    def __init__(self, settings: WikipediaSettings, trust_store: TrustStore) -> None:
        self._base_url = settings.wikipedia_base_url.rstrip("/")
        self._timeout_seconds = settings.wikipedia_timeout_seconds
        self._attempts = settings.wikipedia_attempts
        self._backoff_seconds = settings.wikipedia_backoff_seconds
        self._trust_store = trust_store
        self._pages: httpx.AsyncClient | None = None
        """Created by the first page download: the suggestion path never needs it."""

    async def aclose(self) -> None:
        if self._pages is not None:
            await self._pages.aclose()

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
        request_url = self._base_url + RANDOM_ARTICLE_PATH
        try:
            async with asyncio.timeout(self._timeout_seconds):
                tls = await self._trust_store.context() if _is_https(request_url) else None
                head = await get_head(request_url, {"User-Agent": USER_AGENT}, tls=tls)
        except TimeoutError as exc:  # before OSError, whose subclass it is
            raise _request_failure(exc, FailureKind.TIMEOUT) from exc
        except OSError as exc:  # refused, reset, no such host, TLS, not HTTP
            raise _request_failure(exc, FailureKind.UNREACHABLE) from exc
        _raise_for_server_error(head.status)
        if head.status not in REDIRECT_STATUSES:
            raise WikipediaUnavailable(
                FailureKind.BAD_RESPONSE,
                f"expected a redirect from {RANDOM_ARTICLE_PATH}, got HTTP {head.status}",
            )
        url = article_url(request_url, head.headers.get("location"))
        if len(url) > max_length:
            raise WikipediaUnavailable(
                FailureKind.URL_TOO_LONG, f"article URL has {len(url)} characters: {url}"
            )
        return url

    async def _download_once(self, url: str) -> bytes:
        import httpx

        if self._pages is None:
            self._pages = httpx.AsyncClient(
                base_url=self._base_url,
                headers={"User-Agent": USER_AGENT},
                timeout=httpx.Timeout(self._timeout_seconds),
                verify=await self._trust_store.context(),
            )
        try:
            response = await self._pages.get(url, follow_redirects=True)
        except httpx.TimeoutException as exc:
            raise _request_failure(exc, FailureKind.TIMEOUT) from exc
        except httpx.InvalidURL as exc:
            raise _request_failure(exc, FailureKind.BAD_RESPONSE) from exc
        except httpx.HTTPError as exc:
            raise _request_failure(exc, FailureKind.UNREACHABLE) from exc
        _raise_for_server_error(response.status_code)
        if response.status_code != 200:
            raise WikipediaUnavailable(
                FailureKind.BAD_RESPONSE, f"GET {url} answered HTTP {response.status_code}"
            )
        return response.content


def _is_https(url: str) -> bool:
    return url.startswith("https://")


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


def _raise_for_server_error(status: int) -> None:
    if status >= 500 or status == 429:
        raise WikipediaUnavailable(FailureKind.SERVER_ERROR, f"Wikipedia answered HTTP {status}")


FAILURE_MESSAGES = {
    FailureKind.TIMEOUT: "Wikipedia timed out",
    FailureKind.UNREACHABLE: "Wikipedia unreachable",
    FailureKind.BAD_RESPONSE: "redirect to an invalid URL",
}


def _request_failure(exc: Exception, kind: FailureKind) -> WikipediaUnavailable:
    """What went wrong, in words a caller may see; the exception itself (addresses included)
    only in the log."""
    log.warning("wikipedia request failed", extra={"error": repr(exc)})
    return WikipediaUnavailable(kind, FAILURE_MESSAGES[kind])
