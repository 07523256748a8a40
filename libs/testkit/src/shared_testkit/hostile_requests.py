"""A corpus of raw HTTP requests that have broken services before, for every HTTP service's
tests: none may answer with a server error. Each is a template; `{path}` is a route of the
service under test, `{host}` its address."""

from __future__ import annotations

import socket
import ssl
from urllib.parse import urlsplit

DEEP = "[" * 5000 + "]" * 5000


def _post(body: bytes, content_type: bytes = b"application/json") -> bytes:
    return (
        b"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: "
        + content_type
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )


CORPUS: dict[str, bytes] = {
    "json nested 5000 deep": _post(('{"text": ' + DEEP + "}").encode()),
    "a NUL in a JSON string": _post(b'{"text": "a\\u0000b"}'),
    "a lone surrogate": _post(b'{"text": "a\\ud800b"}'),
    "invalid UTF-8": _post(b'{"text": "a\xff\xfeb"}'),
    "not JSON": _post(b"{{{"),
    "a number too large for any float": _post(b'{"text": 1e999999}'),
    "JSON that is not an object": _post(b'["text"]'),
    "a form with a NUL": _post(b"text=a%00b", b"application/x-www-form-urlencoded"),
    "the wrong content type": _post(b"text", b"text/plain"),
    "a NUL in the path": b"GET {path}%00 HTTP/1.1\r\nHost: {host}\r\n\r\n",
    "a 64 KiB header": b"GET {path} HTTP/1.1\r\nHost: {host}\r\nX-Big: "
    + b"a" * 65536
    + b"\r\n\r\n",
    "an unknown method": b"BREW {path} HTTP/1.1\r\nHost: {host}\r\n\r\n",
    "a bad chunk size": (
        b"POST {path} HTTP/1.1\r\nHost: {host}\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"
    ),
    "a content length that lies": (
        b"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
        b"Content-Length: 5\r\n\r\n{}"
    ),
}


def send(port: int, path: str, template: bytes, timeout: float = 15.0) -> int | None:
    """Send one raw request to a local port; the status code, or None when the server closed
    without one."""
    return send_to(f"http://127.0.0.1:{port}", path, template, timeout)


def send_to(base_url: str, path: str, template: bytes, timeout: float = 15.0) -> int | None:
    """Send one raw request to `base_url` (http, or https as through a deployment's gateway,
    which routes by the Host it is given); the status code, or None when the server closed or
    timed out without one."""
    url = urlsplit(base_url)
    host = url.hostname or "127.0.0.1"
    secure = url.scheme == "https"
    raw = template.replace(b"{path}", path.encode()).replace(b"{host}", host.encode())
    with socket.create_connection((host, url.port or (443 if secure else 80)), timeout) as plain:
        connection = (
            ssl.create_default_context().wrap_socket(plain, server_hostname=host)
            if secure
            else plain
        )
        connection.sendall(raw)
        if not secure:  # a body that lies about its length ends here (TLS cannot half-close)
            connection.shutdown(socket.SHUT_WR)
        try:
            status_line = connection.makefile("rb").readline()
        except (ConnectionResetError, TimeoutError, ssl.SSLError):
            return None
    parts = status_line.split()
    return int(parts[1]) if len(parts) >= 2 and parts[1].isdigit() else None
