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
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from benchkit import VENV_BIN, Launched, machine, percentile, rss_megabytes

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


Result = tuple[float, float]
"""(requests per second, p99 latency in ms) of one round."""


async def round_robin(
    ports: dict[str, int],
    method: str,
    path: str,
    body: bytes,
    *,
    rounds: int,
    connections: int,
    seconds: float,
) -> dict[str, list[Result]]:
    """Alternate the servers round by round, so a burst of load elsewhere on the machine hits
    both alike; the medians are compared."""
    results: dict[str, list[Result]] = {name: [] for name in ports}
    for port in ports.values():  # warm-up
        await load(port, method, path, body, connections=connections, seconds=1)
    for _ in range(rounds):
        for name, port in ports.items():
            ok, latencies = await load(
                port, method, path, body, connections=connections, seconds=seconds
            )
            results[name].append((ok / seconds, percentile(latencies, 0.99) * 1000))
    return results


def median(results: list[Result]) -> Result:
    ordered = sorted(results)
    return ordered[len(ordered) // 2]


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
            ports = {"svc-todo": todo.port, "raw": raw.port}
            options = {
                "rounds": args.rounds,
                "connections": args.connections,
                "seconds": args.seconds,
            }
            results = {
                "GET": await round_robin(ports, "GET", LIST, b"", **options),
                "POST": await round_robin(
                    ports, "POST", "/api/todos", b'{"text": "bench todo"}', **options
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
        f"{'':6}{'svc-todo req/s':>16}{'p99 ms':>9}{'raw req/s':>12}{'p99 ms':>9}{'ratio':>8}"
        "  (aim >= 0.8)"
    )
    for name, by_server in results.items():
        (rps, p99), (raw_rps, raw_p99) = median(by_server["svc-todo"]), median(by_server["raw"])
        print(f"{name:6}{rps:16.0f}{p99:9.1f}{raw_rps:12.0f}{raw_p99:9.1f}{rps / raw_rps:8.2f}")
    print(f"svc-todo RSS: idle {idle_rss:.0f} MB, after load {loaded_rss:.0f} MB")
    print(f"svc-todo start to /readyz 200: {started:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
