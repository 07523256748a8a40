"""Where a URL redirects to: one HTTP/1.1 GET whose response head is read and the body never.

A suggestion needs only the status and `Location` of `Special:Random`'s answer. httpx (with
httpcore, h11 and anyio) costs a scale-to-zero start about 50 ms of CPU to import, build and
send its first request; asyncio's streams and httptools' parser, both loaded by the server
already, cost about one. Page downloads (`fetch-page`) keep httpx.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httptools

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_HEAD_BYTES = 64 * 1024


class BrokenResponse(ConnectionError):
    """The server closed the connection before a whole response head, or sent something that is
    not an HTTP/1.x response."""


@dataclass
class ResponseHead:
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    """Lower-case names; a repeated header keeps its last value."""
    complete: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1").lower()] = _decoded(value)

    def on_headers_complete(self) -> None:
        self.complete = True


async def get_head(
    url: str, headers: dict[str, str], *, tls: ssl.SSLContext | None
) -> ResponseHead:
    """GET `url` and return its response head; the connection is closed without reading on.
    Raises OSError (unreachable, TLS failure, BrokenResponse); the caller bounds the time."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise BrokenResponse(f"unsupported URL: {url!r}")
    if parts.scheme == "https" and tls is None:
        raise ValueError("an https URL needs a TLS context")
    port = parts.port or DEFAULT_PORTS[parts.scheme]
    reader, writer = await asyncio.open_connection(
        parts.hostname, port, ssl=tls if parts.scheme == "https" else None
    )
    try:
        host = parts.netloc.rpartition("@")[2]  # as written: brackets and port kept
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines += ["Accept-Encoding: identity", "Connection: close", "", ""]
        writer.write("\r\n".join(lines).encode())
        return await _read_head(reader)
    finally:
        writer.transport.abort()  # the rest of the answer is not wanted


async def _read_head(reader: asyncio.StreamReader) -> ResponseHead:
    head = ResponseHead()
    parser = httptools.HttpResponseParser(head)
    received = 0
    while not head.complete:
        data = await reader.read(16 * 1024)
        received += len(data)
        if not data or received > MAX_HEAD_BYTES:
            raise BrokenResponse("the server closed the connection before a whole response head")
        try:
            parser.feed_data(data)
        except httptools.HttpParserError as exc:
            raise BrokenResponse(f"not an HTTP response: {exc}") from exc
    head.status = parser.get_status_code()
    return head


def _decoded(value: bytes) -> str:
    """Header values as httpx reads them: UTF-8 when they are, else Latin-1."""
    try:
        return value.decode()
    except UnicodeDecodeError:
        return value.decode("latin-1")
