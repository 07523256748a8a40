"""The page names the greeter version that answered, so reloads show the mesh's 75/25 split."""

from __future__ import annotations

from pathlib import Path

from litestar.testing import AsyncTestClient

from shared_testkit.fake_http import Reply, fake_http
from shared_testkit.processes import ServiceProcess
from svc_logoutput.app import create_app
from svc_logoutput.settings import LogOutputSettings


async def page(greeter_url: str, pingpong_url: str) -> str:
    settings = LogOutputSettings(
        pingpong_url=pingpong_url, greeter_url=greeter_url, dependency_timeout_seconds=0.5
    )
    async with AsyncTestClient(create_app(settings)) as client:
        return (await client.get("/")).text


async def test_a_v2_greeter_shows_its_own_greeting_and_version(
    tmp_path: Path, down_url: str
) -> None:
    greeter = ServiceProcess("svc-greeter", {"GREETER_VERSION": "v2"}, tmp_path)
    greeter.start()
    try:
        text = await page(greeter.url, down_url)
    finally:
        greeter.stop()

    assert "greetings: Howdy (greeter v2)\n" in text


async def test_a_greeter_that_does_not_say_its_version_is_named(down_url: str) -> None:
    with fake_http(lambda request: Reply(200, b'{"greeting": "Hi"}')) as greeter:
        text = await page(greeter.url, down_url)

    assert "greetings: unavailable (greeter answered without its version)\n" in text
