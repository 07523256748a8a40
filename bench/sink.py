"""A webhook sink that is not the bottleneck: aiohttp in its own process, recording when each
`Idempotency-Key` (and each generic-format message) arrived. The benchmarks read the record over
`GET /_received`.

Run alone: .venv/bin/python bench/sink.py PORT
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import httpx
from aiohttp import web
from benchkit import free_port, http_status


def serve(port: int) -> None:
    by_key: defaultdict[str, list[float]] = defaultdict(list)
    by_message: defaultdict[str, list[float]] = defaultdict(list)

    async def hook(request: web.Request) -> web.Response:
        body = await request.json()
        now = time.time()
        by_key[request.headers.get("Idempotency-Key", "")].append(now)
        by_message[str(body.get("message"))].append(now)
        return web.Response(text="ok")

    async def report(request: web.Request) -> web.Response:
        received = by_message if request.query.get("by") == "message" else by_key
        return web.Response(text=json.dumps(received), content_type="application/json")

    async def forget(_: web.Request) -> web.Response:
        by_key.clear()
        by_message.clear()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_get("/_received", report)
    app.router.add_delete("/_received", forget)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class Sink:
    """The sink as a subprocess: `url` to post to, `received()` to read what arrived."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._process = subprocess.Popen([sys.executable, str(Path(__file__)), str(self.port)])
        self.pid = self._process.pid
        deadline = time.monotonic() + 15
        while http_status(self.port, "/_received") != 200:
            if time.monotonic() > deadline:
                raise TimeoutError("sink did not start")
            time.sleep(0.02)

    def received(self, by: str = "key") -> dict[str, list[float]]:
        """Idempotency key (or chat message, `by="message"`) -> arrival times; more than one
        means delivered more than once."""
        response = httpx.get(f"http://127.0.0.1:{self.port}/_received?by={by}", timeout=30)
        return dict(response.json())

    def wait_for(self, keys: set[str], timeout: float = 120) -> dict[str, list[float]]:
        """What arrived once every key in `keys` did, or when `timeout` passed (some missing)."""
        deadline = time.monotonic() + timeout
        while True:
            received = self.received()
            if keys <= received.keys() or time.monotonic() > deadline:
                return received
            time.sleep(0.2)

    def forget(self) -> None:
        httpx.delete(f"http://127.0.0.1:{self.port}/_received", timeout=30)

    def close(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=10)


if __name__ == "__main__":
    serve(int(sys.argv[1]))
