"""Broadcaster deliveries per second against an efficient raw baseline, measured in the same run.

Both consumers read the same events from a private nats-server (from the wheel) and POST them to
the same sink (`bench/sink.py`, aiohttp in its own process), each as its own OS process with the
same concurrency, in alternating rounds:

- baseline: `bench/raw_pipeline.py consume`: pipelined pulls, aiohttp POSTs, acks; nothing else
  (no de-duplication ledger, no retries, no dead letters, no metrics, no traces);
- broadcaster: `svc-broadcaster` itself (generic format, rate limit off, LOG_LEVEL=WARNING),
  which also claims every event in the key-value ledger and marks it sent.

Throughput is counted from each consumer's first call to its last, so start-up is excluded.
Then the publish -> webhook latency of the broadcaster at a steady 50 and 500 events/s.

`--chained`: every second event is the previous one's todo changing (it names it in
`ce-predecessorid`, right behind it on the stream), the worst case for the broadcaster's per-todo
order: each such event waits for its predecessor's call to finish. The baseline ignores the order;
the script counts the events the broadcaster announced before their predecessor.

Run: .venv/bin/python bench/broadcaster_throughput.py [--events 4000] [--rounds 3] [--chained]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import nats
from benchkit import VENV_BIN, Launched, machine, percentile
from sink import Sink

from shared_contracts.catalog import STREAMS, TODO_CREATED
from shared_contracts.cloudevents import PREDECESSOR_ID, CloudEvent
from shared_contracts.todos import Todo
from shared_runtime.messaging import declare_streams, publish_events
from shared_testkit.nats_server import NatsServer

CONCURRENCY = 64
RAW = str(Path(__file__).with_name("raw_pipeline.py"))


def event(text: str) -> CloudEvent:
    now = datetime.now(UTC)
    data = Todo(id=uuid.uuid4(), text=text, done=False, created_at=now, updated_at=now)
    return CloudEvent.new(TODO_CREATED.event_type, "/bench", data)


def chained(events: list[CloudEvent]) -> list[CloudEvent]:
    """Every second event names the one before it as its predecessor."""
    return [
        replace(e, extensions={PREDECESSOR_ID: events[n - 1].id}) if n % 2 else e
        for n, e in enumerate(events)
    ]


def announced_early(events: list[CloudEvent], received: dict[str, list[float]]) -> int:
    """Events whose first call came before their predecessor's."""
    return sum(
        1 for e in events if e.predecessor_id and received[e.id][0] < received[e.predecessor_id][0]
    )


async def publish(
    nats_url: str, count: int, per_second: float | None = None, *, chain: bool = False
) -> list[tuple[CloudEvent, float]]:
    """Publish `count` events, in batches of 100 or paced at `per_second` (in pairs when
    chained); each with its publish time."""
    nc = await nats.connect(nats_url)
    await declare_streams(nc.jetstream(), STREAMS)
    published: list[tuple[CloudEvent, float]] = []
    started = time.monotonic()
    batch = (2 if chain else 1) if per_second else 100
    for first in range(0, count, batch):
        if per_second:
            await asyncio.sleep(max(0.0, started + first / per_second - time.monotonic()))
        events = [event(f"bench todo {first + n}") for n in range(batch)]
        events = chained(events) if chain else events
        published.extend((e, time.time()) for e in events)
        results = await publish_events(nc, [(TODO_CREATED.subject, e) for e in events])
        if failed := next((r.error for r in results if r.error is not None), None):
            raise failed
    await nc.close()
    return published


def wait_for(sink: Sink, ids: set[str]) -> dict[str, list[float]]:
    received = sink.wait_for(ids, timeout=300)
    if missing := ids - received.keys():
        raise TimeoutError(f"{len(missing)} events not delivered")
    return received


def rate(received: dict[str, list[float]], ids: set[str]) -> float:
    times = sorted(t for key in ids for t in received[key])
    return (len(times) - 1) / (times[-1] - times[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chained", action="store_true", help="pairs of events of one todo")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-broadcaster-"))
    server = NatsServer(workdir / "jetstream")
    server.start()
    sink = Sink()
    env = {
        "NATS_URL": server.url,
        "WEBHOOK_URL": sink.url,
        "WEBHOOK_FORMAT": "generic",
        "WEBHOOK_RATE_PER_SECOND": "0",
        "BROADCASTER_CONCURRENCY": str(CONCURRENCY),
        "BROADCASTER_START_AT": "all",
        "LOG_LEVEL": "WARNING",
        "DATA_DIR": str(workdir),
    }
    chain = args.chained
    print(machine(), "chained pairs" if chain else "")
    try:
        rates: dict[str, list[float]] = {"baseline": [], "broadcaster": []}
        for round_number in range(args.rounds):
            order = ["baseline", "broadcaster"]
            if round_number % 2:
                order.reverse()
            for name in order:
                events = [e for e, _ in asyncio.run(publish(server.url, args.events, chain=chain))]
                ids = {e.id for e in events}
                sink.forget()
                durable = f"{name}-{round_number}"
                if name == "baseline":
                    command = [sys.executable, RAW, "consume", server.url, sink.url, durable]
                    command.append(str(CONCURRENCY))
                else:
                    command = [str(VENV_BIN / "svc-broadcaster")]
                consumer = Launched(command, {**env, "BROADCASTER_DURABLE": durable})
                try:
                    received = wait_for(sink, ids)
                finally:
                    consumer.stop()
                rates[name].append(rate(received, ids))
                duplicated = sum(len(received[i]) - 1 for i in ids)
                print(
                    f"round {round_number + 1} {name:12} {rates[name][-1]:7.0f}/s"
                    f"  duplicated {duplicated}  before their predecessor"
                    f" {announced_early(events, received)}"
                )
        baseline = statistics.median(rates["baseline"])
        broadcaster = statistics.median(rates["broadcaster"])
        print(f"deliveries/s, median of {args.rounds} rounds of {args.events} events")
        print(f"  baseline     {baseline:8.0f}")
        print(f"  broadcaster  {broadcaster:8.0f}  (aim >= 1000)")
        print(f"  ratio        {broadcaster / baseline:8.2f}  (aim >= 0.9)")

        consumer = Launched(
            [str(VENV_BIN / "svc-broadcaster")],
            {**env, "BROADCASTER_DURABLE": "latency", "BROADCASTER_START_AT": "new"},
        )
        try:
            consumer.seconds_until_ok("/readyz")
            for per_second, count, aim in ((50, 500, 30), (500, 2500, 100)):
                sink.forget()
                published = asyncio.run(publish(server.url, count, per_second, chain=chain))
                received = wait_for(sink, {e.id for e, _ in published})
                latencies = [(received[e.id][0] - t) * 1000 for e, t in published]
                p50, p99 = percentile(latencies, 0.5), percentile(latencies, 0.99)
                print(
                    f"publish -> webhook at {per_second}/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms"
                    f"  (aim p99 <= {aim} ms)"
                )
        finally:
            consumer.stop()
    finally:
        sink.close()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
