"""The console command as Knative runs it: honours PORT, becomes ready, finishes work on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from shared_contracts.catalog import WIKIPEDIA_REQUESTED
from shared_contracts.cloudevents import CloudEvent
from shared_contracts.wikipedia import WikipediaRequested
from shared_runtime.messaging import publish_event
from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually
from shared_testkit.ports import free_port
from svc_wikipedia.consumer import STOP_GRACE_SECONDS

COMMAND = str(Path(sys.executable).parent / "svc-wikipedia")


async def test_sigterm_finishes_the_suggestion_in_hand(
    wikipedia: Any, nats_url: str, stored_commands: Any, tmp_path: Path
) -> None:
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "NATS_URL": nats_url,
        "WIKIPEDIA_BASE_URL": wikipedia.url,
        "SUGGEST_EVERY_MINUTES": "0",
    }
    with (tmp_path / "service.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            COMMAND, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            await eventually(lambda: _ready(http), timeout=30, message="svc-wikipedia ready")
            wikipedia.delay_seconds = 1.0
            in_flight = asyncio.create_task(
                http.post(
                    "/",
                    headers={
                        "ce-specversion": "1.0",
                        "ce-id": "ping-at-shutdown",
                        "ce-type": "dev.knative.sources.ping",
                        "ce-source": "/tests",
                    },
                )
            )
            await eventually(lambda: _asked(wikipedia))
            process.send_signal(signal.SIGTERM)
            response = await in_flight
        exit_code = await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()

    assert response.status_code == 202
    assert exit_code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it is done
    assert [c.text for c in await stored_commands()] == [f"Read {wikipedia.url}/wiki/Article_1"]


async def test_sigterm_abandons_a_stuck_nats_request_for_prompt_redelivery(
    wikipedia: Any, nats_url: str, js: Any, stored_commands: Any, tmp_path: Path
) -> None:
    """Wikipedia hangs: shutdown does not wait for it, and the request is not lost."""
    env = {
        **os.environ,
        "NATS_URL": nats_url,
        "WIKIPEDIA_BASE_URL": wikipedia.url,
        "WIKIPEDIA_TIMEOUT_SECONDS": "30",
        "SUGGEST_EVERY_MINUTES": "0",
    }
    wikipedia.mode = "hang"
    stuck = await _start(env, tmp_path / "stuck.log")
    try:
        await publish_event(
            js,
            WIKIPEDIA_REQUESTED.subject,
            CloudEvent.new(
                WIKIPEDIA_REQUESTED.event_type, "/tests", WikipediaRequested(), event_id="stuck-1"
            ),
        )
        await eventually(lambda: _asked(wikipedia))
        stuck.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(stuck.process.wait(), STOP_GRACE_SECONDS + 5)
    finally:
        await stuck.kill()
    wikipedia.mode = "redirect"
    wikipedia.release()

    successor = await _start(env, tmp_path / "successor.log")
    try:
        commands = await eventually(stored_commands, timeout=15)
    finally:
        await successor.kill()
    assert len(commands) == 1
    assert commands[0].text.startswith(f"Read {wikipedia.url}/wiki/Article_")


class _Started:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
            await self.process.wait()


async def _start(env: dict[str, str], log_path: Path) -> _Started:
    port = free_port()
    with log_path.open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            COMMAND, env={**env, "PORT": str(port)}, stdout=log, stderr=subprocess.STDOUT
        )
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        await eventually(lambda: _ready(http), timeout=30, message="svc-wikipedia ready")
    return _Started(process)


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200


async def _asked(wikipedia: Any) -> bool:
    return bool(wikipedia.random_requests())


async def test_serves_health_while_nats_is_unreachable_and_binds_once_it_answers(
    wikipedia: Any, nats_server: NatsServer, tmp_path: Path
) -> None:
    await asyncio.to_thread(nats_server.stop)
    port = free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "NATS_URL": nats_server.url,
        "WIKIPEDIA_BASE_URL": wikipedia.url,
    }
    with (tmp_path / "service.log").open("wb") as log:
        process = await asyncio.create_subprocess_exec(
            COMMAND, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    started = _Started(process)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as http:
            await eventually(lambda: _status(http, "/healthz", 200), timeout=30)
            readiness = await http.get("/readyz")
            assert readiness.status_code == 503
            assert readiness.json()["reasons"] == ["nats not connected"]
            trigger = await http.post("/", headers=PING)
            assert trigger.status_code == 503
            assert trigger.headers["Retry-After"]

            await asyncio.to_thread(nats_server.start)
            await eventually(lambda: _ready(http), timeout=20, message="ready once NATS answers")
    finally:
        await started.kill()


async def test_an_idle_service_stops_within_a_second_or_two(
    wikipedia: Any, nats_url: str, tmp_path: Path
) -> None:
    env = {**os.environ, "NATS_URL": nats_url, "WIKIPEDIA_BASE_URL": wikipedia.url}
    started = await _start(env, tmp_path / "idle.log")
    try:
        begun = time.monotonic()
        started.process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(started.process.wait(), 10)
        assert time.monotonic() - begun < 3
    finally:
        await started.kill()


PING = {
    "ce-specversion": "1.0",
    "ce-id": "ping-without-nats",
    "ce-type": "dev.knative.sources.ping",
    "ce-source": "/tests",
}


async def _status(http: httpx.AsyncClient, path: str, status: int) -> bool:
    return (await http.get(path)).status_code == status
