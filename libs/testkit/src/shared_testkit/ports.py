from __future__ import annotations

import socket

_handed_out: set[int] = set()
"""Ports already given to a caller of this process: one chosen for a server that starts later
(a cluster node's route port) is free until then, and the system would hand it out again."""


def free_port() -> int:
    """A port free now and not given out before by this process."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
