"""A TCP proxy in front of one nats-server's route port, so a test can cut a node off its peers.

Every route connection of a loopback cluster goes through the proxy of the node it dials (routes
and the address each node advertises to its peers name the proxy), so cutting a node means: its
own proxy refuses and closes everything, and the other proxies refuse and close what that node
dialed. Which node dialed a connection is read from /proc (the process that owns the client
port), so nothing in the route protocol is parsed or faked. Linux only, like the rest of the
local provider.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path

from shared_testkit.ports import free_port

NodePids = Callable[[], dict[int, int]]
"""Node index -> pid of every node that runs now."""

_ACCEPT_POLL_SECONDS = 0.2
_CHUNK = 65536


def dialer_of(client_port: int, server_port: int, pids: dict[int, int]) -> int | None:
    """The node whose process holds the socket 127.0.0.1:`client_port` -> 127.0.0.1:`server_port`
    (both ends: Linux shares an ephemeral port between connections to different places)."""
    local, remote = f"0100007F:{client_port:04X}", f"0100007F:{server_port:04X}"
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[1].endswith(local) and fields[2].endswith(remote):
                    inodes.add(fields[9])
    for node, pid in pids.items():
        with contextlib.suppress(OSError):
            for fd in os.scandir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    link = os.readlink(fd.path)
                    if link.startswith("socket:[") and link[8:-1] in inodes:
                        return node
    return None


class RouteProxy:
    """Listens on `port`, forwards to `target_port`; `isolate` and `block` cut and refuse."""

    def __init__(self, node: int, target_port: int, node_pids: NodePids) -> None:
        self.node = node
        self.port = free_port()
        self.target_port = target_port
        self._node_pids = node_pids
        self._lock = threading.Lock()
        self._isolated = False
        self._blocked: set[int] = set()
        self._open: list[tuple[int | None, socket.socket, socket.socket]] = []
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(_ACCEPT_POLL_SECONDS)
        self._running = True
        self._thread = threading.Thread(
            target=self._accept, name=f"route-proxy-{node}", daemon=True
        )
        self._thread.start()

    def isolate(self, isolated: bool) -> None:
        """Refuse (True) or let through (False) every connection to this node."""
        with self._lock:
            self._isolated = isolated
        self._cut()

    def block(self, dialer: int, blocked: bool) -> None:
        """Refuse (True) or let through (False) the connections node `dialer` makes to this one."""
        with self._lock:
            (self._blocked.add if blocked else self._blocked.discard)(dialer)
        self._cut()

    def close(self) -> None:
        self._running = False
        self._thread.join(timeout=5)
        self._listener.close()
        with self._lock:
            self._isolated = True
        self._cut()

    def _refused(self, dialer: int | None) -> bool:
        return self._isolated or dialer in self._blocked

    def _cut(self) -> None:
        with self._lock:
            cut = [c for c in self._open if self._refused(c[0])]
            self._open = [c for c in self._open if not self._refused(c[0])]
        for _, client, server in cut:
            for end in (client, server):
                with contextlib.suppress(OSError):
                    end.shutdown(socket.SHUT_RDWR)
                end.close()

    def _accept(self) -> None:
        while self._running:
            try:
                client, (_, client_port) = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            dialer = dialer_of(client_port, self.port, self._node_pids())
            with self._lock:
                refused = self._refused(dialer)
            if refused:
                client.close()
                continue
            try:
                server = socket.create_connection(("127.0.0.1", self.target_port), timeout=2)
            except OSError:
                client.close()
                continue
            server.settimeout(None)
            with self._lock:
                self._open = [c for c in self._open if c[1].fileno() != -1]
                self._open.append((dialer, client, server))
            for source, sink in ((client, server), (server, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy one direction until either end closes, then close both."""
    try:
        while data := source.recv(_CHUNK):
            sink.sendall(data)
    except OSError:
        pass
    for end in (source, sink):
        with contextlib.suppress(OSError):
            end.shutdown(socket.SHUT_RDWR)
        end.close()
