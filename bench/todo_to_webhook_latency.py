"""End-to-end latency: POST /api/todos → outbox → JetStream → svc-broadcaster → webhook.

Posts todos at a steady rate to a real svc-todo and counts the time until a real
svc-broadcaster's chat message for each reaches a local webhook sink (`bench/sink.py`, its own
process); prints p50 and p99 at each rate (aims: p99 <= 30 ms at 50/s, <= 100 ms at 500/s).

    .venv/bin/python bench/todo_to_webhook_latency.py [--rates 50 500] [--seconds 10]

Needs PostgreSQL (BENCH_DATABASE_URL, default the local `test` database as admin).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from benchkit import VENV_BIN, Launched, machine, percentile
from sink import Sink

from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually
from shared_testkit.postgres import create_database, drop_database

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
PREFIX = "A todo was created: "


async def post_steadily(url: str, rate: float, seconds: float) -> dict[str, float]:
    """Send one POST every 1/rate seconds (not waiting for answers); text → time sent."""
    marker = uuid.uuid4().hex[:6]
    sent: dict[str, float] = {}
    interval, count = 1 / rate, int(rate * seconds)
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def post(n: int) -> None:
            text = f"latency probe {marker} {n}"
            sent[text] = time.time()
            (await client.post("/api/todos", json={"text": text})).raise_for_status()

        tasks = []
        for n in range(count):
            await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
            tasks.append(asyncio.create_task(post(n)))
        await asyncio.gather(*tasks)
    return sent


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rates", type=float, nargs="+", default=[50, 500])
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    sink = Sink()
    with tempfile.TemporaryDirectory() as scratch:
        nats = NatsServer(Path(scratch) / "jetstream")
        nats.start()
        database_url = await create_database(ADMIN_URL)
        env = {"NATS_URL": nats.url, "DATA_DIR": scratch, "LOG_LEVEL": "WARNING"}
        todo = Launched(
            [str(VENV_BIN / "svc-todo")],
            {**env, "DATABASE_URL": database_url, "IMAGE_SOURCE_URL": "http://127.0.0.1:9/x"},
        )
        broadcaster = Launched(
            [str(VENV_BIN / "svc-broadcaster")],
            {
                **env,
                "WEBHOOK_URL": sink.url,
                "WEBHOOK_FORMAT": "generic",
                "WEBHOOK_RATE_PER_SECOND": "0",
            },
        )
        print(f"machine: {machine()}")
        try:
            todo.seconds_until_ok("/readyz")
            broadcaster.seconds_until_ok("/readyz")
            url = f"http://127.0.0.1:{todo.port}"
            await post_steadily(url, rate=5, seconds=1)  # warm both paths
            await eventually(lambda: _received(sink, 5), timeout=30)
            for rate in args.rates:
                sink.forget()
                sent = await post_steadily(url, rate, args.seconds)
                expected = len(sent)
                await eventually(lambda: _received(sink, expected), timeout=60)  # noqa: B023
                arrived = sink.received(by="message")
                latencies = [(arrived[PREFIX + text][0] - at) * 1000 for text, at in sent.items()]
                print(
                    f"{len(latencies)} todos at {rate:g}/s: POST → webhook received "
                    f"p50 {percentile(latencies, 0.5):.1f} ms, "
                    f"p99 {percentile(latencies, 0.99):.1f} ms"
                )
        finally:
            broadcaster.stop()
            todo.stop()
            sink.close()
            await drop_database(ADMIN_URL, database_url)
            nats.stop()


async def _received(sink: Sink, count: int) -> bool:
    return len(sink.received()) >= count


if __name__ == "__main__":
    asyncio.run(main())
