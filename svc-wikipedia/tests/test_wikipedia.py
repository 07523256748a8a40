"""Resolving a random article against a fake Wikipedia: redirects, outages, timeouts, garbage."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from shared_testkit.ports import free_port
from svc_wikipedia.wikipedia import (
    RANDOM_ARTICLE_PATH,
    USER_AGENT,
    FailureKind,
    TrustStore,
    WikipediaUnavailable,
    open_wikipedia,
)

ROOMY = 200


async def test_the_redirect_target_is_the_article_and_the_article_is_not_downloaded(
    wikipedia: Any, make_settings: Any
) -> None:
    async with open_wikipedia(make_settings()) as client:
        url = await client.random_article_url(max_length=ROOMY)

    assert url == f"{wikipedia.url}/wiki/Article_1"
    assert [r.path for r in wikipedia.server.requests] == [RANDOM_ARTICLE_PATH]
    assert wikipedia.server.requests[0].headers["User-Agent"] == USER_AGENT
    assert wikipedia.server.requests[0].headers["Host"] == wikipedia.url.split("://")[1]


async def test_a_relative_location_is_made_absolute(wikipedia: Any, make_settings: Any) -> None:
    wikipedia.location = "/wiki/Caf%C3%A9"
    async with open_wikipedia(make_settings()) as client:
        assert (
            await client.random_article_url(max_length=ROOMY) == f"{wikipedia.url}/wiki/Caf%C3%A9"
        )


async def test_server_errors_are_retried_then_reported(wikipedia: Any, make_settings: Any) -> None:
    wikipedia.mode = "server_error"
    async with open_wikipedia(make_settings(wikipedia_attempts=3)) as client:
        with pytest.raises(WikipediaUnavailable) as failure:
            await client.random_article_url(max_length=ROOMY)

    assert failure.value.kind is FailureKind.SERVER_ERROR
    assert len(wikipedia.random_requests()) == 3


async def test_a_hanging_wikipedia_times_out(wikipedia: Any, make_settings: Any) -> None:
    wikipedia.mode = "hang"
    settings = make_settings(wikipedia_timeout_seconds=0.2, wikipedia_attempts=1)
    async with open_wikipedia(settings) as client:
        with pytest.raises(WikipediaUnavailable) as failure:
            await client.random_article_url(max_length=ROOMY)

    assert failure.value.kind is FailureKind.TIMEOUT


async def test_an_unreachable_wikipedia_is_reported(make_settings: Any) -> None:
    settings = make_settings(wikipedia_base_url=f"http://127.0.0.1:{free_port()}")
    async with open_wikipedia(settings) as client:
        with pytest.raises(WikipediaUnavailable) as failure:
            await client.random_article_url(max_length=ROOMY)

    assert failure.value.kind is FailureKind.UNREACHABLE


@pytest.mark.parametrize(
    "location",
    [
        "",
        "/w/index.php?title=Special:Search",
        "javascript:alert(1)",
        "/wiki/",
        "/wiki/Special:Random",
        "/wiki/two words",
    ],
)
async def test_a_redirect_that_names_no_article_is_a_bad_response(
    wikipedia: Any, make_settings: Any, location: str
) -> None:
    wikipedia.location = location
    async with open_wikipedia(make_settings()) as client:
        with pytest.raises(WikipediaUnavailable) as failure:
            await client.random_article_url(max_length=ROOMY)

    assert failure.value.kind is FailureKind.BAD_RESPONSE


async def test_an_answer_that_is_not_a_redirect_is_a_bad_response(make_settings: Any) -> None:
    from shared_testkit.fake_http import FakeHttpServer, Reply

    with FakeHttpServer(lambda request: Reply(status=200, body=b"<html>search</html>")) as site:
        async with open_wikipedia(make_settings(wikipedia_base_url=site.url)) as client:
            with pytest.raises(WikipediaUnavailable) as failure:
                await client.random_article_url(max_length=ROOMY)

    assert failure.value.kind is FailureKind.BAD_RESPONSE


async def test_an_article_url_too_long_for_a_todo_is_drawn_again(
    wikipedia: Any, make_settings: Any
) -> None:
    wikipedia.next_locations = [f"{wikipedia.url}/wiki/{'A' * 150}"]
    async with open_wikipedia(make_settings()) as client:
        url = await client.random_article_url(max_length=100)

    assert url == f"{wikipedia.url}/wiki/Article_2"


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    request = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        [*request, *subject, "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    return cert, key


@pytest.fixture
async def tls_wikipedia(
    certificate: tuple[Path, Path],
) -> AsyncIterator[tuple[str, Path, list[bytes]]]:
    """A Wikipedia over TLS with that certificate: its URL, the certificate (to trust it) and
    the request heads it received."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    heads: list[bytes] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            heads.append(await reader.readuntil(b"\r\n\r\n"))
            writer.write(
                b"HTTP/1.1 302 Found\r\nLocation: /wiki/Secure\r\nContent-Length: 0\r\n\r\n"
            )
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass  # a client that refused the certificate hangs up during the handshake
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"https://127.0.0.1:{port}", cert, heads


async def test_over_tls_the_certificate_is_verified_against_the_trust_store(
    tls_wikipedia: tuple[str, Path, list[bytes]], make_settings: Any
) -> None:
    url, cert, heads = tls_wikipedia
    settings = make_settings(wikipedia_base_url=url)
    async with open_wikipedia(settings, TrustStore(cafile=str(cert))) as client:
        assert await client.random_article_url(max_length=ROOMY) == f"{url}/wiki/Secure"
    assert heads[0].startswith(b"GET /wiki/Special:Random HTTP/1.1\r\n")

    async with open_wikipedia(settings) as client:  # certifi's bundle does not know it
        with pytest.raises(WikipediaUnavailable) as failure:
            await client.random_article_url(max_length=ROOMY)
    assert failure.value.kind is FailureKind.UNREACHABLE
    assert len(heads) == 1  # the refused server never saw a request
