"""svc-todo against a raw asyncpg baseline, measured in the same run on the same database.

Prints GET and POST /api/todos requests per second and p99 latency at 32 connections, their
ratios to the baseline, svc-todo's idle and post-load RSS, and its time from launch to ready.

    .venv/bin/python bench/todo_throughput.py [--seconds 10] [--connections 32]

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

import asyncpg
import httpx

sys.path.insert(0, str(Path(__file__).parent))
from benchkit import VENV_BIN, Launched, machine, percentile

from shared_testkit.nats_server import NatsServer
from shared_testkit.postgres import create_database, drop_database

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
SEED_TODOS = 20


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


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


async def measure(port: int, connections: int, seconds: float) -> dict[str, tuple[float, float]]:
    """GET over a small list, then POST; (requests per second, p99 ms) of each."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        for n in range(SEED_TODOS):
            (await client.post("/api/todos", json={"text": f"seed {n}"})).raise_for_status()
    results = {}
    for name, method, body in (("GET", "GET", b""), ("POST", "POST", b'{"text": "bench todo"}')):
        await load(port, method, "/api/todos", body, connections=connections, seconds=1)  # warm
        ok, latencies = await load(
            port, method, "/api/todos", body, connections=connections, seconds=seconds
        )
        results[name] = (ok / seconds, percentile(latencies, 0.99) * 1000)
    return results


async def empty_tables(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    await connection.execute("TRUNCATE todo, todo_outbox")
    await connection.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        nats = NatsServer(Path(scratch) / "jetstream")
        nats.start()
        database_url = await create_database(ADMIN_URL)
        try:
            env = {
                "DATABASE_URL": database_url,
                "NATS_URL": nats.url,
                "DATA_DIR": scratch,
                "LOG_LEVEL": "WARNING",
                "IMAGE_SOURCE_URL": "http://127.0.0.1:9/none",
            }
            todo = Launched([str(VENV_BIN / "svc-todo")], env)
            started = todo.seconds_until_ok("/readyz")
            idle_rss = rss_mb(todo.process.pid)
            service = await measure(todo.port, args.connections, args.seconds)
            loaded_rss = rss_mb(todo.process.pid)
            todo.stop()

            await empty_tables(database_url)
            raw = Launched([sys.executable, str(Path(__file__).parent / "raw_todo_app.py")], env)
            raw.seconds_until_ok("/api/todos")
            baseline = await measure(raw.port, args.connections, args.seconds)
            raw.stop()
        finally:
            await drop_database(ADMIN_URL, database_url)
            nats.stop()

    print(f"machine: {machine()}, {args.connections} connections, {args.seconds:g} s per run")
    print(f"{'':6}{'svc-todo req/s':>16}{'p99 ms':>9}{'raw req/s':>12}{'p99 ms':>9}{'ratio':>8}")
    for name in ("GET", "POST"):
        (rps, p99), (raw_rps, raw_p99) = service[name], baseline[name]
        print(f"{name:6}{rps:16.0f}{p99:9.1f}{raw_rps:12.0f}{raw_p99:9.1f}{rps / raw_rps:8.2f}")
    print(f"svc-todo RSS: idle {idle_rss:.0f} MB, after load {loaded_rss:.0f} MB")
    print(f"svc-todo start to /readyz 200: {started:.2f} s")


if __name__ == "__main__":
    asyncio.run(main())
