"""The page and readiness against real greeter and pingpong processes, each up, down or hung."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
from litestar.testing import AsyncTestClient

from shared_testkit.processes import ServiceProcess
from svc_logoutput.app import create_app
from svc_logoutput.settings import LogOutputSettings

HEARTBEAT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z: "
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


def settings_for(pingpong_url: str, greeter_url: str, **overrides: object) -> LogOutputSettings:
    return LogOutputSettings(
        pingpong_url=pingpong_url,
        greeter_url=greeter_url,
        dependency_timeout_seconds=0.5,
        **overrides,
    )


async def test_page_shows_file_message_heartbeat_pongs_and_greeting(
    tmp_path: Path, pingpong: ServiceProcess, greeter: ServiceProcess
) -> None:
    info_file = tmp_path / "information.txt"
    info_file.write_text("this text is from file\n")
    async with httpx.AsyncClient(base_url=pingpong.url) as pingpong_client:
        await pingpong_client.get("/pingpong")
        pings = (await pingpong_client.get("/pings")).json()["pings"]
    settings = settings_for(pingpong.url, greeter.url, info_file=info_file, message="hello world")

    async with AsyncTestClient(create_app(settings)) as client:
        response = await client.get("/")
        ready = await client.get("/readyz")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    lines = response.text.splitlines()
    assert lines[0] == "file content: this text is from file"
    assert lines[1] == "env variable: MESSAGE=hello world"
    assert HEARTBEAT_LINE.match(lines[2]), lines[2]
    assert lines[3:] == [f"Ping / Pongs: {pings}", "greetings: Hello from the mesh (greeter v1)"]
    assert ready.status_code == 200


async def test_pingpong_down_the_page_answers_and_readiness_fails(
    greeter: ServiceProcess, down_url: str
) -> None:
    async with AsyncTestClient(create_app(settings_for(down_url, greeter.url))) as client:
        response = await client.get("/")
        ready = await client.get("/readyz")

    assert response.status_code == 200
    assert "Ping / Pongs: unavailable (pingpong unreachable)" in response.text
    assert "greetings: Hello from the mesh (greeter v1)" in response.text
    assert ready.status_code == 503
    assert ready.json()["reasons"] == ["pingpong unreachable"]


async def test_greeter_down_the_page_says_so_and_stays_ready(
    pingpong: ServiceProcess, down_url: str
) -> None:
    async with AsyncTestClient(create_app(settings_for(pingpong.url, down_url))) as client:
        response = await client.get("/")
        ready = await client.get("/readyz")

    assert response.status_code == 200
    assert "greetings: unavailable (greeter unreachable)" in response.text
    assert re.search(r"^Ping / Pongs: \d+$", response.text, re.MULTILINE)
    assert ready.status_code == 200


async def test_hung_dependencies_cost_one_short_timeout(silent_url: str) -> None:
    async with AsyncTestClient(create_app(settings_for(silent_url, silent_url))) as client:
        started = time.monotonic()
        response = await client.get("/")
        elapsed = time.monotonic() - started

    assert response.status_code == 200
    assert "Ping / Pongs: unavailable (pingpong timed out)" in response.text
    assert "greetings: unavailable (greeter timed out)" in response.text
    assert elapsed < 0.9, "both calls run at once, so the page waits one 0.5 s timeout"


async def test_missing_or_unset_info_file_is_named_not_fatal(tmp_path: Path, down_url: str) -> None:
    missing = settings_for(down_url, down_url, info_file=tmp_path / "absent.txt")
    async with AsyncTestClient(create_app(missing)) as client:
        response = await client.get("/")
    assert response.status_code == 200
    assert response.text.startswith("file content: unavailable (No such file or directory: ")

    async with AsyncTestClient(create_app(settings_for(down_url, down_url))) as client:
        response = await client.get("/")
    assert response.text.startswith("file content: unavailable (INFO_FILE not set)")
