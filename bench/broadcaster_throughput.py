"""Broadcaster deliveries per second against a raw baseline, measured in the same run.

Both consumers read the same events from a private nats-server (from the wheel) and POST them to
the same local webhook sink, each as its own OS process with the same concurrency:

- baseline: nats-py durable pull consumer + httpx POST + ack, nothing else (no de-duplication,
  no claims, no rate limit, no metrics);
- broadcaster: `svc-broadcaster` itself (generic format, rate limit off, LOG_LEVEL=WARNING).

Throughput is counted from each consumer's first call to its last, so start-up is excluded.
Also prints the publish -> webhook latency of the broadcaster at a steady 50 events/s (the
broadcaster's share of the POST /api/todos -> chat latency; svc-todo's outbox is not included).

Run: .venv/bin/python bench/broadcaster_throughput.py [--events 2000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import nats
from nats.js.api import AckPolicy, ConsumerConfig

from shared_contracts.catalog import STREAMS, TODO_CREATED, TODOS
from shared_contracts.cloudevents import CloudEvent
from shared_contracts.todos import Todo
from shared_runtime.messaging import declare_streams, publish_event
from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import wait_until
from shared_testkit.ports import free_port
from shared_testkit.webhook_sink import WebhookSink

BIN = Path(sys.executable).parent
CONCURRENCY = 16


async def baseline_worker(nats_url: str, sink_url: str, concurrency: int) -> None:
    """The least a correct at-least-once consumer does: fetch, POST, ack."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    config = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=30, max_ack_pending=1000)
    sub = await js.pull_subscribe(TODOS.subjects[0], "baseline", TODOS.name, config=config)
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=concurrency)) as client:

        async def deliver(msg: nats.aio.msg.Msg) -> None:
            event = CloudEvent.from_nats(msg.headers, msg.data)
            todo = Todo.model_validate_json(event.data)
            await client.post(
                sink_url,
                json={"user": "bot", "message": f"A todo was created: {todo.text}"},
                headers={"Idempotency-Key": event.id},
            )
            await msg.ack()

        running: set[asyncio.Task[None]] = set()
        while True:
            free = concurrency - len(running)
            if free == 0:
                await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                continue
            try:
                messages = await sub.fetch(batch=free, timeout=1.0)
            except TimeoutError:
                continue
            for msg in messages:
                task = asyncio.create_task(deliver(msg))
                running.add(task)
                task.add_done_callback(running.discard)


def event(text: str) -> CloudEvent:
    now = datetime.now(UTC)
    data = Todo(id=uuid.uuid4(), text=text, done=False, created_at=now, updated_at=now)
    return CloudEvent.new(TODO_CREATED.event_type, "/bench", data)


async def publish(nats_url: str, count: int, per_second: float | None = None) -> dict[str, float]:
    """Publish `count` events (paced when `per_second` is set); returns id -> publish time."""
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await declare_streams(js, STREAMS)
    published: dict[str, float] = {}
    started = time.monotonic()
    for n in range(count):
        if per_second:
            await asyncio.sleep(max(0.0, started + n / per_second - time.monotonic()))
        ce = event(f"bench todo {n}")
        published[ce.id] = time.time()
        await publish_event(js, TODO_CREATED.subject, ce)
    await nc.close()
    return published


def start(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(command, env={**os.environ, **env}, stdout=out, stderr=out)


def deliveries_per_second(
    sink: WebhookSink, ids: set[str], process: subprocess.Popen[bytes], since: int
) -> float:
    """Calls after index `since` of the sink's record are this consumer's."""

    def done() -> bool:
        return ids <= {r.idempotency_key for r in sink.received[since:]}

    wait_until(done, timeout=300, interval=0.05, message="all events delivered")
    process.terminate()
    process.wait(timeout=30)
    times = sorted(r.at for r in sink.received[since:] if r.idempotency_key in ids)
    return (len(times) - 1) / (times[-1] - times[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--baseline-worker", nargs=2, metavar=("NATS_URL", "SINK_URL"))
    args = parser.parse_args()
    if args.baseline_worker:
        asyncio.run(baseline_worker(*args.baseline_worker, CONCURRENCY))
        return

    workdir = Path(tempfile.mkdtemp(prefix="bench-broadcaster-"))
    server = NatsServer(workdir / "jetstream")
    server.start()
    broadcaster_env = {
        "NATS_URL": server.url,
        "WEBHOOK_FORMAT": "generic",
        "WEBHOOK_RATE_PER_SECOND": "0",
        "BROADCASTER_CONCURRENCY": str(CONCURRENCY),
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(workdir),
    }
    try:
        with WebhookSink() as sink:
            broadcaster_env["WEBHOOK_URL"] = f"{sink.url}/hook"
            baseline_command = [sys.executable, __file__, "--baseline-worker", server.url, sink.url]
            rates: dict[str, list[float]] = {"baseline": [], "broadcaster": []}
            for round_number in range(args.rounds):
                ids = set(asyncio.run(publish(server.url, args.events)))
                order = ["baseline", "broadcaster"]
                if round_number % 2:
                    order.reverse()
                for name in order:
                    command = (
                        baseline_command if name == "baseline" else [str(BIN / "svc-broadcaster")]
                    )
                    port = {"PORT": str(free_port())}
                    since = len(sink.received)
                    process = start(command, {**broadcaster_env, **port}, workdir / f"{name}.log")
                    rates[name].append(deliveries_per_second(sink, ids, process, since))
                print(
                    f"round {round_number + 1}: baseline {rates['baseline'][-1]:.0f}/s, "
                    f"broadcaster {rates['broadcaster'][-1]:.0f}/s"
                )
            baseline = statistics.median(rates["baseline"])
            broadcaster = statistics.median(rates["broadcaster"])
            print(f"deliveries/s (median of {args.rounds}, {args.events} events each)")
            print(f"  baseline     {baseline:8.0f}")
            print(f"  broadcaster  {broadcaster:8.0f}")
            print(f"  ratio        {broadcaster / baseline:8.2f}  (aim >= 0.7)")

            port = {"PORT": str(free_port())}
            process = start(
                [str(BIN / "svc-broadcaster")],
                {**broadcaster_env, **port},
                workdir / "latency.log",
            )
            wait_until(
                lambda: httpx.get(f"http://127.0.0.1:{port['PORT']}/readyz").status_code == 200,
                timeout=30,
            )
            since = len(sink.received)
            published = asyncio.run(publish(server.url, 500, per_second=50))
            wait_until(
                lambda: set(published) <= {r.idempotency_key for r in sink.received[since:]},
                timeout=60,
            )
            process.terminate()
            process.wait(timeout=30)
            received = {r.idempotency_key: r.at for r in sink.received[since:]}
            latencies = sorted((received[i] - t) * 1000 for i, t in published.items())
            p50 = latencies[len(latencies) // 2]
            p99 = latencies[int(len(latencies) * 0.99) - 1]
            print(f"publish -> webhook at 50 events/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
