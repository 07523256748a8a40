"""End-to-end latency: POST /api/todos → outbox → JetStream → svc-broadcaster → webhook.

Posts todos at a steady rate to a real svc-todo and counts the time until a real
svc-broadcaster's chat message for each reaches a local webhook sink; prints p50 and p99.

    .venv/bin/python bench/todo_to_webhook_latency.py [--rate 50] [--seconds 10]

Needs PostgreSQL (BENCH_DATABASE_URL, default the local `test` database as admin).
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
from benchkit import VENV_BIN, Launched, machine, percentile

from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually
from shared_testkit.postgres import create_database, drop_database
from shared_testkit.webhook_sink import WebhookSink

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
PREFIX = "A todo was created: "


async def post_steadily(url: str, rate: float, seconds: float) -> dict[str, float]:
    """Send one POST every 1/rate seconds (not waiting for answers); text → time sent."""
    sent: dict[str, float] = {}
    interval, count = 1 / rate, int(rate * seconds)
    start = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:

        async def post(n: int) -> None:
            text = f"latency probe {n}"
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
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch, WebhookSink() as sink:
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
        try:
            todo.seconds_until_ok("/readyz")
            broadcaster.seconds_until_ok("/readyz")
            url = f"http://127.0.0.1:{todo.port}"
            await post_steadily(url, rate=5, seconds=1)  # warm both paths
            await eventually(lambda: _received(sink, 5), timeout=30)
            already = len(sink.accepted())
            sent = await post_steadily(url, args.rate, args.seconds)
            await eventually(lambda: _received(sink, already + len(sent)), timeout=60)
        finally:
            broadcaster.stop()
            todo.stop()
            await drop_database(ADMIN_URL, database_url)
            nats.stop()

    arrived = {call.json()["message"].removeprefix(PREFIX): call.at for call in sink.accepted()}
    latencies = [(arrived[text] - at) * 1000 for text, at in sent.items()]
    print(f"machine: {machine()}")
    print(
        f"{len(latencies)} todos at {args.rate:g}/s: POST → webhook received "
        f"p50 {percentile(latencies, 0.5):.1f} ms, p99 {percentile(latencies, 0.99):.1f} ms"
    )


async def _received(sink: WebhookSink, count: int) -> bool:
    return len(sink.accepted()) >= count


if __name__ == "__main__":
    asyncio.run(main())
