"""The fetcher against a local HTTP server: what is copied, and every way a page is refused."""

from __future__ import annotations

import gzip
import threading
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from shared_testkit.fake_http import FakeHttpServer, Recorded, Reply, fake_http
from shared_testkit.ports import free_port
from svc_dummysite.fetcher import FetchError, fetch_client, fetch_page

HTML = {"Content-Type": "text/html; charset=utf-8"}
LIMIT = 10_000
OTHER_TYPES = ["application/pdf", "image/png", "application/json", "text/plain"]


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with fetch_client(timeout_seconds=0.5) as http:
        yield http


@pytest.fixture
def released() -> Iterator[threading.Event]:
    """Lets a deliberately slow responder go when the test is over."""
    event = threading.Event()
    yield event
    event.set()


ROUTES = {
    "/": Reply(200, "<html><body>caf\u00e9</body></html>".encode(), HTML),
    "/latin": Reply(
        200,
        "<p>\u00e9t\u00e9</p>".encode("latin-1"),
        {"Content-Type": "text/html; charset=iso-8859-1"},
    ),
    "/old": Reply(301, b"", {"Location": "/moved"}),
    "/moved": Reply(302, b"", {"Location": "/new/"}),
    "/new/": Reply(200, b"<p>new</p>", HTML),
    "/loop": Reply(302, b"", {"Location": "/loop"}),
    "/404": Reply(404, b"<p>oops</p>", HTML),
    "/500": Reply(500, b"<p>oops</p>", HTML),
    "/503": Reply(503, b"<p>oops</p>", HTML),
    "/xhtml": Reply(200, b"<html/>", {"Content-Type": "application/xhtml+xml"}),
    "/big": Reply(200, b"x" * (LIMIT + 1), HTML),
    "/bomb": Reply(
        200, gzip.compress(b"<p>" + b" " * (LIMIT * 10)), {**HTML, "Content-Encoding": "gzip"}
    ),
}


@pytest.fixture(scope="module")
def server() -> Iterator[FakeHttpServer]:
    """One server for the whole module (each one takes half a second to shut down)."""
    typed = {f"/typed/{t}": Reply(200, b"%PDF-1.7", {"Content-Type": t}) for t in OTHER_TYPES}
    routes = {**ROUTES, **typed}
    with fake_http(lambda request: routes.get(request.path, Reply(404, b""))) as http:
        yield http


async def test_a_page_is_fetched_with_its_text(
    client: httpx.AsyncClient, server: FakeHttpServer
) -> None:
    fetched = await fetch_page(client, f"{server.url}/", max_bytes=LIMIT)
    assert fetched.html == "<html><body>caf\u00e9</body></html>"
    assert fetched.url == f"{server.url}/"
    assert server.requests[-1].headers["User-Agent"].startswith("svc-dummysite/")


async def test_a_page_in_another_charset_is_decoded(
    client: httpx.AsyncClient, server: FakeHttpServer
) -> None:
    fetched = await fetch_page(client, f"{server.url}/latin", max_bytes=LIMIT)
    assert fetched.html == "<p>\u00e9t\u00e9</p>"


async def test_redirects_are_followed_and_the_final_url_kept(
    client: httpx.AsyncClient, server: FakeHttpServer
) -> None:
    fetched = await fetch_page(client, f"{server.url}/old", max_bytes=LIMIT)
    assert fetched.url == f"{server.url}/new/"
    assert fetched.html == "<p>new</p>"


async def test_a_redirect_loop_is_refused(
    client: httpx.AsyncClient, server: FakeHttpServer
) -> None:
    with pytest.raises(FetchError, match="redirects") as failure:
        await fetch_page(client, f"{server.url}/loop", max_bytes=LIMIT)
    assert failure.value.reason == "redirects"


@pytest.mark.parametrize("status", [404, 500, 503])
async def test_an_error_status_is_refused(
    client: httpx.AsyncClient, server: FakeHttpServer, status: int
) -> None:
    with pytest.raises(FetchError, match=f"HTTP {status}") as failure:
        await fetch_page(client, f"{server.url}/{status}", max_bytes=LIMIT)
    assert failure.value.reason == "status"


@pytest.mark.parametrize("content_type", OTHER_TYPES)
async def test_anything_but_html_is_refused(
    client: httpx.AsyncClient, server: FakeHttpServer, content_type: str
) -> None:
    with pytest.raises(FetchError, match=f"is {content_type}, not HTML") as failure:
        await fetch_page(client, f"{server.url}/typed/{content_type}", max_bytes=LIMIT)
    assert failure.value.reason == "not-html"


async def test_xhtml_is_html(client: httpx.AsyncClient, server: FakeHttpServer) -> None:
    assert (await fetch_page(client, f"{server.url}/xhtml", max_bytes=LIMIT)).html == "<html/>"


async def test_a_page_over_the_limit_is_refused(
    client: httpx.AsyncClient, server: FakeHttpServer
) -> None:
    with pytest.raises(FetchError, match="over the 10000 limit") as failure:
        await fetch_page(client, f"{server.url}/big", max_bytes=LIMIT)
    assert failure.value.reason == "too-large"


async def test_a_small_compressed_page_that_unpacks_over_the_limit_is_refused(
    client: httpx.AsyncClient, server: FakeHttpServer
) -> None:
    assert len(ROUTES["/bomb"].body) < LIMIT
    with pytest.raises(FetchError, match="larger than 10000 bytes") as failure:
        await fetch_page(client, f"{server.url}/bomb", max_bytes=LIMIT)
    assert failure.value.reason == "too-large"


async def test_a_server_that_does_not_answer_in_time_is_given_up_on(
    client: httpx.AsyncClient, released: threading.Event
) -> None:
    def hang(request: Recorded) -> Reply:
        released.wait(10)
        return Reply(200, b"<p>late</p>", HTML)

    with fake_http(hang) as server:
        with pytest.raises(FetchError, match=r"no answer within 0\.5s") as failure:
            await fetch_page(client, f"{server.url}/", max_bytes=LIMIT)
        released.set()
    assert failure.value.reason == "timeout"


async def test_a_host_nobody_answers_on_is_unreachable(client: httpx.AsyncClient) -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    with pytest.raises(FetchError, match=f"could not fetch {url}") as failure:
        await fetch_page(client, url, max_bytes=LIMIT)
    assert failure.value.reason == "unreachable"
