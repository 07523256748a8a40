"""A service pauses the garbage collector while it starts (see `shared_runtime.collector`): once
it listens, garbage is collected again and what the start built is out of the collector's way."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import httpx
import pytest

from shared_testkit.polling import wait_until
from shared_testkit.ports import free_port

pytestmark = pytest.mark.e2e

# A process started the way every service main starts: collection paused, then `serve`.
SERVED = textwrap.dedent(
    """
    import gc, json
    from shared_runtime.collector import pause_during_start
    from shared_runtime.server import serve
    from shared_runtime.settings import ServiceSettings

    pause_during_start()
    started_with = gc.isenabled()

    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            while (message := await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        body = {"paused_at_start": not started_with, "collecting": gc.isenabled(),
                "frozen": gc.get_freeze_count()}
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": json.dumps(body).encode()})

    serve(app, ServiceSettings.from_environment())
    """
)


def test_garbage_is_collected_again_once_the_service_listens() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVED],
        env={**os.environ, "PORT": str(port)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _state(port) is not None, timeout=30, message="server up")
        state = _state(port)
        assert state is not None
        assert state["paused_at_start"] is True
        assert state["collecting"] is True
        assert state["frozen"] > 10_000, "what the start built is out of later collections"
    finally:
        process.terminate()
        process.wait(timeout=30)


def _state(port: int) -> dict[str, object] | None:
    try:
        return dict(httpx.get(f"http://127.0.0.1:{port}/", timeout=2).json())
    except httpx.HTTPError:
        return None
