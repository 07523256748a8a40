"""The hourly image: at most one fetch per interval, atomic writes, stale when the source fails."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from shared_testkit.fake_http import FakeHttpServer, Recorded, Reply, fake_http
from shared_testkit.polling import eventually
from shared_testkit.ports import free_port
from svc_todo.app import create_app
from svc_todo.image import FETCHING, HourlyImage
from svc_todo.settings import TodoSettings

JPEG = b"\xff\xd8\xff\xe0" + b"picture" * 100


class Source:
    """A fake image source that can be switched off."""

    def __init__(self) -> None:
        self.up = True
        self.body = JPEG

    def __call__(self, request: Recorded) -> Reply:
        if not self.up:
            return Reply(503, b"down")
        return Reply(200, self.body, {"Content-Type": "image/jpeg"})


@pytest.fixture
def source() -> Source:
    return Source()


@pytest.fixture
def server(source: Source) -> AsyncIterator[FakeHttpServer]:
    with fake_http(source) as server:
        yield server  # type: ignore[misc]


USER_AGENT = "svc-todo/test"


@pytest.fixture
async def image(tmp_path: Path, server: FakeHttpServer) -> AsyncIterator[HourlyImage]:
    image = HourlyImage(
        tmp_path / "image",
        f"{server.url}/1200",
        refresh_seconds=3600,
        user_agent=USER_AGENT,
        retry_after_seconds=0,
    )
    yield image
    await image.close()


async def test_first_fetch_writes_the_image_atomically(
    image: HourlyImage, server: FakeHttpServer
) -> None:
    assert not image.exists()

    await image.refresh()

    assert image.path.read_bytes() == JPEG
    assert image.content_type() == "image/jpeg"
    assert sorted(p.name for p in image.path.parent.iterdir()) == ["image", "image.type"]
    assert server.requests[0].headers.get("User-Agent") == USER_AGENT


def test_starting_the_service_does_not_load_the_http_client() -> None:
    """httpx's transport and CA certificates cost a start about 85 ms of CPU: the first
    refresh loads them, off the path to the first answer."""
    loaded = subprocess.run(
        [sys.executable, "-c", BUILD_THE_APP],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout.split()

    assert "svc_todo.image" in loaded
    assert "httpx" not in loaded


async def test_a_started_service_fetches_the_image_before_anyone_asks(
    tmp_path: Path, server: FakeHttpServer
) -> None:
    settings = TodoSettings(
        data_dir=tmp_path,
        nats_url=f"nats://127.0.0.1:{free_port()}",
        image_source_url=f"{server.url}/1200",
    )
    saved = tmp_path / "image" / "image"

    async def fetched() -> bool:
        return saved.exists()

    async with AsyncTestClient(create_app(settings)):
        await eventually(fetched, message="image fetched without a page view")

    assert saved.read_bytes() == JPEG
    assert len(server.requests) == 1


BUILD_THE_APP = """
import sys, tempfile
from pathlib import Path
from svc_todo.app import create_app
from svc_todo.settings import TodoSettings
create_app(TodoSettings(data_dir=Path(tempfile.mkdtemp())))
print(*sys.modules)
"""


async def test_fetches_at_most_once_per_interval(
    image: HourlyImage, server: FakeHttpServer
) -> None:
    image.refresh_in_background()
    await eventually(lambda: _async(image.exists()))
    for _ in range(5):
        image.refresh_in_background()

    assert len(server.requests) == 1
    assert not image.is_stale()


async def test_stale_image_is_refreshed_and_kept_when_the_source_is_down(
    image: HourlyImage, source: Source, server: FakeHttpServer
) -> None:
    await image.refresh()
    hour_ago = time.time() - 3601
    os.utime(image.path, (hour_ago, hour_ago))
    assert image.is_stale()

    source.up = False
    await image.refresh()
    assert image.path.read_bytes() == JPEG

    source.up, source.body = True, JPEG + b"new"
    image.refresh_in_background()
    await eventually(lambda: _async(image.path.read_bytes() == JPEG + b"new"))
    assert not image.is_stale()


async def test_status_says_what_is_true_until_there_is_an_image(
    tmp_path: Path, server: FakeHttpServer, source: Source
) -> None:
    image = HourlyImage(tmp_path, f"{server.url}/1200", refresh_seconds=3600, user_agent=USER_AGENT)
    assert image.status() == FETCHING

    source.up = False
    await image.refresh()
    assert image.status() == (
        "No image yet: the image source is unavailable. Retrying every minute."
    )

    source.up = True
    await image.refresh()
    assert image.status() is None
    await image.close()


async def test_a_non_image_answer_is_not_saved(tmp_path: Path) -> None:
    def captcha_page(request: Recorded) -> Reply:
        return Reply(200, b"<html>captcha</html>", {"Content-Type": "text/html"})

    with fake_http(captcha_page) as server:
        image = HourlyImage(tmp_path, f"{server.url}/x", refresh_seconds=60, user_agent=USER_AGENT)
        await image.refresh()
        await image.close()

    assert not image.exists()


async def _async(value: bool) -> bool:
    return value
