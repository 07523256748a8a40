"""svc-todo against a raw asyncpg baseline, measured in the same run on the same database.

Prints GET and POST /api/todos requests per second and p99 latency at 32 connections, their
ratios to the baseline, svc-todo's idle and post-load RSS, and its time from launch to ready.

    .venv/bin/python bench/todo_throughput.py [--seconds 5] [--rounds 3] [--connections 32]

Needs PostgreSQL (BENCH_DATABASE_URL, default the local `test` database as admin) and runs the
wheel's nats-server itself. Figures vary with machine load; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from dataclasses import astuple, dataclass
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from benchkit import VENV_BIN, Launched, cpu_seconds, machine, percentile, rss_megabytes

from shared_testkit.nats_server import NatsServer
from shared_testkit.postgres import create_database, drop_database

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SEED_TODOS = 100
LIST = f"/api/todos?limit={SEED_TODOS}"
"""The whole seeded list as one page, as the course project's comparison lists 100 todos."""


async def load(
    port: int, method: str, path: str, body: bytes, *, connections: int, seconds: float
) -> tuple[int, list[float]]:
    """Keep-alive requests from `connections` clients; successes and their latencies."""
    head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\n"
    if body:
        head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    request = head.encode() + b"\r\n" + body
    deadline = time.perf_counter() + seconds
    latencies: list[float] = []

    async def client() -> int:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        ok = 0
        try:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                writer.write(request)
                response_head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in response_head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - started)
                ok += response_head.split(b" ", 2)[1] in (b"200", b"201")
        finally:
            writer.close()
        return ok

    return sum(await asyncio.gather(*(client() for _ in range(connections)))), latencies


@dataclass(frozen=True)
class Round:
    requests_per_second: float
    p99_ms: float
    cpu_us_per_request: float
    """The server process's CPU time per answered request: steadier than the rate on a busy
    machine, and what bounds the rate when the machine is not busy."""


async def round_robin(
    servers: dict[str, Launched],
    method: str,
    path: str,
    body: bytes,
    *,
    rounds: int,
    connections: int,
    seconds: float,
) -> dict[str, list[Round]]:
    """Alternate the servers round by round, so a burst of load elsewhere on the machine hits
    both alike; the medians are compared."""
    results: dict[str, list[Round]] = {name: [] for name in servers}
    for server in servers.values():  # warm-up
        await load(server.port, method, path, body, connections=connections, seconds=1)
    for _ in range(rounds):
        for name, server in servers.items():
            cpu = cpu_seconds(server.process.pid)
            ok, latencies = await load(
                server.port, method, path, body, connections=connections, seconds=seconds
            )
            cpu = cpu_seconds(server.process.pid) - cpu
            results[name].append(
                Round(ok / seconds, percentile(latencies, 0.99) * 1000, cpu / max(ok, 1) * 1e6)
            )
    return results


def median(rounds: list[Round]) -> Round:
    """Each figure's median over the rounds."""
    figures = zip(*map(astuple, rounds), strict=True)
    return Round(*(statistics.median(figure) for figure in figures))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        nats = NatsServer(Path(scratch) / "jetstream")
        nats.start()
        database_url = await create_database(ADMIN_URL)
        servers: list[Launched] = []
        try:
            env = {
                "DATABASE_URL": database_url,
                "NATS_URL": nats.url,
                "DATA_DIR": scratch,
                "LOG_LEVEL": "WARNING",
                "IMAGE_SOURCE_URL": "http://127.0.0.1:9/none",
            }
            todo = Launched([str(VENV_BIN / "svc-todo")], env)
            servers.append(todo)
            started = todo.seconds_until_ok("/readyz")  # also creates the schema
            idle_rss = rss_megabytes(todo.process.pid)
            raw = Launched([sys.executable, str(Path(__file__).parent / "raw_todo_app.py")], env)
            servers.append(raw)
            raw.seconds_until_ok("/api/todos")
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{todo.port}") as client:
                for n in range(SEED_TODOS):
                    (await client.post("/api/todos", json={"text": f"seed {n}"})).raise_for_status()
            compared = {"svc-todo": todo, "raw": raw}
            options = {
                "rounds": args.rounds,
                "connections": args.connections,
                "seconds": args.seconds,
            }
            results = {
                "GET": await round_robin(compared, "GET", LIST, b"", **options),
                "POST": await round_robin(
                    compared, "POST", "/api/todos", b'{"text": "bench todo"}', **options
                ),
            }
            loaded_rss = rss_megabytes(todo.process.pid)
        finally:
            for server in servers:
                server.stop()
            await drop_database(ADMIN_URL, database_url)
            nats.stop()

    print(
        f"machine: {machine()}; {args.connections} connections, "
        f"{args.rounds} alternating rounds of {args.seconds:g} s; medians"
    )
    print(
        f"{'':6}{'svc-todo req/s':>16}{'p99 ms':>9}{'CPU us':>8}"
        f"{'raw req/s':>12}{'p99 ms':>9}{'CPU us':>8}{'ratio':>8}{'CPU ratio':>11}"
        "  (aim >= 0.8)"
    )
    for name, by_server in results.items():
        ours, raw_figures = median(by_server["svc-todo"]), median(by_server["raw"])
        print(
            f"{name:6}{ours.requests_per_second:16.0f}{ours.p99_ms:9.1f}"
            f"{ours.cpu_us_per_request:8.0f}{raw_figures.requests_per_second:12.0f}"
            f"{raw_figures.p99_ms:9.1f}{raw_figures.cpu_us_per_request:8.0f}"
            f"{ours.requests_per_second / raw_figures.requests_per_second:8.2f}"
            f"{raw_figures.cpu_us_per_request / ours.cpu_us_per_request:11.2f}"
        )
    print("ratio: requests per second against raw; CPU ratio: raw's CPU per request / svc-todo's")
    print(f"svc-todo RSS: idle {idle_rss:.0f} MB, after load {loaded_rss:.0f} MB")
    print(f"svc-todo start to /readyz 200: {started:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
