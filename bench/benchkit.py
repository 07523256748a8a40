"""Helpers the benchmark scripts share: processes on free ports, HTTP probes, machine facts."""

from __future__ import annotations

import asyncio
import compileall
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


REPOSITORY = Path(__file__).resolve().parent.parent


def compile_sources() -> None:
    """Compile the repository's own modules to bytecode, as the images do at build time, so a
    cold start does not pay for compiling them at every launch: it would when the environment
    sets PYTHONDONTWRITEBYTECODE (no `__pycache__` is ever written then). Installed packages are
    compiled by pip already."""
    for source in sorted(REPOSITORY.glob("libs/*/src")) + sorted(REPOSITORY.glob("svc-*/src")):
        compileall.compile_dir(source, quiet=1)
    compileall.compile_dir(REPOSITORY / "bench", maxlevels=0, quiet=1)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [x for x in cpuinfo.read_text().splitlines() if x.startswith("model name")]
        cpu = names[0].split(":", 1)[1].strip() if names else cpu
    return f"{os.cpu_count()} CPU ({cpu}), Python {platform.python_version()}"


def rss_megabytes(pid: int) -> float:
    """Resident memory of a running process, from /proc."""
    status = Path(f"/proc/{pid}/status").read_text()
    kilobytes = re.search(r"VmRSS:\s+(\d+) kB", status)
    return int(kilobytes.group(1)) / 1024 if kilobytes else float("nan")


def cpu_seconds(pid: int) -> float:
    """User and system CPU time a running process has used, from /proc: a figure that, unlike
    requests per second, hardly moves when other work competes for the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile, so p95 of 20 runs is the 19th fastest, a real measurement."""
    ordered = sorted(values)
    rank = max(1, round(fraction * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def http_status(port: int, path: str, timeout: float = 1.0) -> int | None:
    """One GET over a fresh connection; None while nothing listens yet."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode()
            )
            status_line = sock.makefile("rb").readline()
    except OSError:
        return None
    parts = status_line.split()
    return int(parts[1]) if len(parts) >= 2 else None


class Launched:
    """A server process on a free port (in `PORT`, and in place of `{port}` in the command)."""

    def __init__(self, command: Sequence[str], env: Mapping[str, str]) -> None:
        self.port = free_port()
        self.started = time.perf_counter()
        self.process = subprocess.Popen(
            [part.replace("{port}", str(self.port)) for part in command],
            env={**os.environ, **env, "PORT": str(self.port)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def seconds_until_ok(self, path: str, timeout: float = 30.0) -> float:
        """Time from launch to the first 200 on `path`, polling every millisecond."""
        deadline = self.started + timeout
        while time.perf_counter() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"exited with {self.process.returncode} before answering")
            if http_status(self.port, path) == 200:
                return time.perf_counter() - self.started
            time.sleep(0.001)
        raise TimeoutError(f"no 200 on {path} within {timeout}s")

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    raise ValueError(f"response without Content-Length: {head!r}")


async def hammer(port: int, path: str, *, connections: int, seconds: float) -> int:
    """Keep-alive GETs from `connections` clients for `seconds`; the number answered 200.

    A hand-rolled HTTP/1.1 client, so the load generator costs far less CPU than the server.
    """
    request = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    deadline = time.perf_counter() + seconds

    async def client() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        answered = 0
        try:
            while time.perf_counter() < deadline:
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = content_length(head)
                await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 200"):
                    answered += 1
        finally:
            writer.close()
        return answered

    return sum(await asyncio.gather(*(client() for _ in range(connections))))
