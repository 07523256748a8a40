"""Fetch the page a DummySite names: bounded in time and size, HTML only, redirects followed."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from svc_dummysite.reconciliation import Page

HTML_TYPES = ("text/html", "application/xhtml+xml")
MAX_REDIRECTS = 5
USER_AGENT = "svc-dummysite/0.1 (a Kubernetes DummySite operator)"


class FetchError(Exception):
    """The page could not be copied; `reason` is a short label for metrics."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def fetch_client(timeout_seconds: float) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        follow_redirects=True,
        max_redirects=MAX_REDIRECTS,
        timeout=httpx.Timeout(timeout_seconds),
        headers={"User-Agent": USER_AGENT, "Accept": "text/html,application/xhtml+xml"},
    )


async def fetch_page(client: httpx.AsyncClient, url: str, *, max_bytes: int) -> Page:
    """GET `url` and return its HTML, or raise FetchError saying why not."""
    try:
        async with client.stream("GET", url) as response:
            _check_response(response, max_bytes)
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body.extend(chunk)
                if len(body) > max_bytes:
                    raise FetchError("too-large", f"page is larger than {max_bytes} bytes")
            html = bytes(body).decode(response.encoding or "utf-8", errors="replace")
            return Page(str(response.url), html, datetime.now(UTC))
    except httpx.TooManyRedirects:
        raise FetchError("redirects", f"more than {MAX_REDIRECTS} redirects") from None
    except httpx.TimeoutException:
        raise FetchError("timeout", f"no answer within {client.timeout.read}s") from None
    except httpx.HTTPError as error:
        raise FetchError(
            "unreachable", f"could not fetch {url}: {str(error) or type(error).__name__}"
        ) from None


def _check_response(response: httpx.Response, max_bytes: int) -> None:
    if not response.is_success:
        raise FetchError("status", f"{response.url} answered HTTP {response.status_code}")
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if media_type not in HTML_TYPES:
        raise FetchError("not-html", f"{response.url} is {media_type or 'untyped'}, not HTML")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise FetchError("too-large", f"page is {declared} bytes, over the {max_bytes} limit")
