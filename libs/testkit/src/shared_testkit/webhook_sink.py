"""A local HTTP server standing in for a chat webhook: records every call, answers as told."""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from shared_testkit.fake_http import serve_in_background


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    status: int
    at: float

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass(frozen=True)
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b'{"ok":true}'


Responder = Callable[[str, dict[str, str], bytes], Reply]


class _QuietServer(ThreadingHTTPServer):
    """Clients killed mid-connection are part of the tests, not errors worth a traceback.
    The backlog is a real server's rather than socketserver's 5: replicas catching up after an
    outage open dozens of connections at once, and an overflowing accept queue holds some of
    them for seconds (SYN retries), long enough for a webhook call to time out at the caller
    while it is still answered here."""

    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class WebhookSink:
    """`answer(Reply(500))` or `answer_with(fn)` changes what the next calls get (default 200).

    A call is recorded once it has been answered, with the status it got.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._responder: Responder = lambda path, headers, body: Reply()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if len(body) < length:  # the client died mid-request: nothing was received
                    self.close_connection = True
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = sink._record(self.path, headers, body)
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, format: str, *args: Any) -> None:
                """Quiet: the test reads `received`, not a log."""

        self._server = _QuietServer(("127.0.0.1", 0), Handler)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def answer(self, reply: Reply) -> None:
        self.answer_with(lambda path, headers, body: reply)

    def answer_with(self, responder: Responder) -> None:
        with self._lock:
            self._responder = responder

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> Reply:
        with self._lock:
            responder = self._responder
        reply = responder(path, headers, body)
        with self._lock:
            self._received.append(Received(path, headers, body, reply.status, time.time()))
        return reply

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def accepted(self) -> list[Received]:
        """The calls answered with 2xx: what a chat would show."""
        return [r for r in self.received if 200 <= r.status < 300]

    def accepted_keys(self) -> Counter[str | None]:
        return Counter(r.idempotency_key for r in self.accepted())

    def start(self) -> WebhookSink:
        serve_in_background(self._server)
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookSink:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
