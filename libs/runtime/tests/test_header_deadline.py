"""Half-sent request headers cannot hold connections open: every service closes them after its
header deadline, and keeps serving everyone else."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared_testkit.polling import wait_until
from shared_testkit.ports import free_port

pytestmark = pytest.mark.e2e

GREETER = str(Path(sys.executable).parent / "svc-greeter")
SLOW_CLIENTS = 50


def test_connections_with_half_sent_headers_are_closed_after_the_deadline() -> None:
    port = free_port()
    env = {**os.environ, "PORT": str(port), "HTTP_HEADER_TIMEOUT_SECONDS": "1"}
    process = subprocess.Popen(
        [GREETER], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        wait_until(lambda: _status(port) == 200, timeout=30, message="greeter up")
        slow = []
        for _ in range(SLOW_CLIENTS):
            client = socket.create_connection(("127.0.0.1", port))
            client.sendall(b"GET / HTTP/1.1\r\nHost: slow\r\nX-Never: ")  # and never finish
            client.settimeout(10)
            slow.append(client)
        assert _status(port) == 200, "others are still served"
        started = time.monotonic()
        closed = sum(1 for client in slow if client.recv(1024) == b"")
        assert closed == SLOW_CLIENTS
        assert time.monotonic() - started < 5
        for client in slow:
            client.close()
    finally:
        process.terminate()
        process.wait(timeout=30)


def _status(port: int) -> int | None:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code
    except httpx.HTTPError:
        return None
