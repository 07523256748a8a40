"""The page and readiness against real greeter and pingpong processes, each up, down or hung."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from shared_testkit.processes import ServiceProcess
from svc_logoutput.app import create_app
from svc_logoutput.settings import LogOutputSettings

HEARTBEAT_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z: "
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)


class _Counting(BaseHTTPRequestHandler):
    """Answers as both dependencies would and records each path (the server's `paths`)."""

    def do_GET(self) -> None:
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        body = b'{"pings": 1, "greeting": "hi", "version": "v1"}'
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def counting() -> Iterator[ThreadingHTTPServer]:
    """A dependency in its own thread (the test client blocks the test's event loop)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    server.paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


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


async def test_pingpong_down_the_page_answers_and_stays_ready(
    greeter: ServiceProcess, down_url: str
) -> None:
    async with AsyncTestClient(create_app(settings_for(down_url, greeter.url))) as client:
        response = await client.get("/")
        ready = await client.get("/readyz")

    assert response.status_code == 200
    assert "Ping / Pongs: unavailable (pingpong unreachable)" in response.text
    assert "greetings: Hello from the mesh (greeter v1)" in response.text
    assert ready.status_code == 200, "pingpong is a soft dependency"


async def test_readiness_never_wakes_pingpong(counting: ThreadingHTTPServer) -> None:
    """Kubernetes probes readiness every few seconds; none of those may reach pingpong (a
    scale-to-zero function) or the greeter."""
    url = f"http://127.0.0.1:{counting.server_address[1]}"
    async with AsyncTestClient(create_app(settings_for(url, url))) as client:
        for _ in range(3):
            assert (await client.get("/readyz")).status_code == 200
        assert counting.paths == []  # type: ignore[attr-defined]
        await client.get("/")
    assert sorted(counting.paths) == ["/", "/pings"], "the page itself calls both"  # type: ignore[attr-defined]


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
