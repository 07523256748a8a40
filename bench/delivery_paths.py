"""Why the shared delivery path is built on nats-py: the cost of consuming one JetStream message
through FastStream's pull subscriber against `shared_runtime.delivery`, in the same run.

Each path consumes the same number of pre-published messages with a handler that only returns
(acked), from a private nats-server; printed: messages per second and CPU microseconds per
message of this process, alternating the paths round by round.

Run: .venv/bin/python bench/delivery_paths.py [--messages 5000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import nats
from benchkit import machine
from faststream import AckPolicy
from faststream.nats import JStream, NatsBroker, NatsMessage, PullSub
from nats.js.api import StreamConfig

from shared_contracts.catalog import Consumer, Stream
from shared_contracts.cloudevents import CloudEvent
from shared_runtime.delivery import ConsumerOptions, Delivery, DurableConsumer
from shared_testkit.nats_server import NatsServer

CONCURRENCY = 64
STREAM = Stream("BENCH", ("bench.>",), "benchmark", max_age=timedelta(hours=1))


async def fill(url: str, count: int) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(STREAM.name)
    await js.add_stream(StreamConfig(name=STREAM.name, subjects=list(STREAM.subjects)))
    for _ in range(count):
        event = CloudEvent(id=str(time.monotonic_ns()), type="bench.v1", source="/bench")
        await js.publish("bench.item", event.data, headers=event.nats_headers())
    await nc.close()


async def faststream(url: str, count: int, batch: int) -> None:
    done = asyncio.Event()
    handled = 0
    broker = NatsBroker(url, logger=None)

    @broker.subscriber(
        "bench.>",
        stream=JStream(STREAM.name, declare=False),
        durable=f"faststream-{batch}",
        pull_sub=PullSub(batch_size=batch, timeout=1),
        max_workers=CONCURRENCY,
        ack_policy=AckPolicy.MANUAL,
    )
    async def handle(message: NatsMessage) -> None:
        nonlocal handled
        await message.ack()
        handled += 1
        if handled == count:
            done.set()

    await broker.start()
    await done.wait()
    await broker.stop()


async def shared_path(url: str, count: int) -> None:
    done = asyncio.Event()
    handled = 0

    async def handle(delivery: Delivery) -> str:
        nonlocal handled
        handled += 1
        if handled == count:
            done.set()
        return "done"

    nc = await nats.connect(url)
    spec = Consumer("shared", STREAM, "bench.>", "bench", timedelta(seconds=30), 5, 10_000)
    consumer = DurableConsumer(nc, spec, handle, ConsumerOptions(concurrency=CONCURRENCY))
    await consumer.start()
    await done.wait()
    await consumer.stop()
    await nc.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    paths = {
        "faststream pull, batch 1": lambda url: faststream(url, args.messages, 1),
        "faststream pull, batch 16": lambda url: faststream(url, args.messages, 16),
        "shared delivery path": lambda url: shared_path(url, args.messages),
    }
    server = NatsServer(Path(tempfile.mkdtemp(prefix="bench-paths-")))
    server.start()
    figures: dict[str, list[tuple[float, float]]] = {name: [] for name in paths}
    print(machine())
    try:
        for number in range(args.rounds):
            names = list(paths) if number % 2 == 0 else list(reversed(paths))
            for name in names:
                asyncio.run(fill(server.url, args.messages))
                wall, cpu = time.perf_counter(), time.process_time()
                asyncio.run(paths[name](server.url))
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                figures[name].append((args.messages / wall, cpu / args.messages * 1e6))
    finally:
        server.stop()
    shared_cpu = statistics.median(c for _, c in figures["shared delivery path"])
    for name, runs in figures.items():
        rate = statistics.median(r for r, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        print(f"{name:28} {rate:8.0f} msg/s  {cpu:6.0f} us CPU/msg  ({cpu / shared_cpu:.1f}x)")


if __name__ == "__main__":
    main()
