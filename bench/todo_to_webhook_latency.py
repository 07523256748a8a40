"""End-to-end latency: POST /api/todos → outbox → JetStream → svc-broadcaster → webhook.

Posts todos at a steady rate to a real svc-todo and counts the time until a real
svc-broadcaster's chat message for each reaches a local webhook sink (`bench/sink.py`, its own
process); prints p50 and p99 at each rate (aims: p99 <= 30 ms at 50/s, <= 100 ms at 500/s), and
splits it: the POST's answer (sent → response), and the pipeline behind the write (the todo's
`created_at`, stamped by svc-todo as it writes, → the webhook). The client is a hand-rolled
HTTP/1.1 one over keep-alive connections, so at 500/s it takes little of the machine the
services share.

    .venv/bin/python bench/todo_to_webhook_latency.py [--rates 50 500] [--seconds 10]

Needs PostgreSQL (BENCH_DATABASE_URL, default the local `test` database as admin).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from benchkit import VENV_BIN, Launched, content_length, machine, percentile
from sink import Sink

from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually
from shared_testkit.postgres import create_database, drop_database

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
PREFIX = "A todo was created: "
CONNECTIONS = 64
POST = (
    b"POST /api/todos HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\n\r\n"
)


@dataclass
class Probe:
    sent: float
    answered: float = 0.0
    created_at: float = 0.0


async def post_steadily(port: int, rate: float, seconds: float) -> dict[str, Probe]:
    """Send one POST every 1/rate seconds (not waiting for answers); text → its probe."""
    marker = uuid.uuid4().hex[:6]
    probes: dict[str, Probe] = {}
    idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        idle.put_nowait(await asyncio.open_connection("127.0.0.1", port))

    async def post(n: int) -> None:
        text = f"latency probe {marker} {n}"
        body = json.dumps({"text": text}).encode()
        probe = probes[text] = Probe(time.time())
        reader, writer = await idle.get()
        writer.write(POST % len(body) + body)
        head = await reader.readuntil(b"\r\n\r\n")
        answer = await reader.readexactly(content_length(head))
        probe.answered = time.time()
        idle.put_nowait((reader, writer))
        if not head.startswith(b"HTTP/1.1 201"):
            raise RuntimeError(f"POST answered {head.split(b' ', 2)[1].decode()}: {answer!r}")
        probe.created_at = datetime.fromisoformat(json.loads(answer)["created_at"]).timestamp()

    interval, count = 1 / rate, int(rate * seconds)
    start = time.perf_counter()
    tasks = []
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n * interval - time.perf_counter()))
        tasks.append(asyncio.create_task(post(n)))
    await asyncio.gather(*tasks)
    while not idle.empty():
        _, writer = idle.get_nowait()
        writer.close()
    return probes


def _spread(values: list[float]) -> str:
    return f"p50 {percentile(values, 0.5):6.1f} ms, p99 {percentile(values, 0.99):6.1f} ms"


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
            await post_steadily(todo.port, rate=5, seconds=1)  # warm both paths
            await eventually(lambda: _received(sink, 5), timeout=30)
            for rate in args.rates:
                sink.forget()
                probes = await post_steadily(todo.port, rate, args.seconds)
                expected = len(probes)
                await eventually(lambda: _received(sink, expected), timeout=60)  # noqa: B023
                arrived = {
                    text[len(PREFIX) :]: at[0] for text, at in sink.received("message").items()
                }
                print(f"{expected} todos at {rate:g}/s:")
                spans = {
                    "POST → webhook received": [arrived[t] - p.sent for t, p in probes.items()],
                    "POST answered": [p.answered - p.sent for p in probes.values()],
                    "written → webhook": [arrived[t] - p.created_at for t, p in probes.items()],
                }
                for name, seconds in spans.items():
                    print(f"  {name:24} {_spread([s * 1000 for s in seconds])}")
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
