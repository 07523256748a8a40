"""The whole event pipeline under a flat-out write load, against a raw pipeline in the same run.

project: svc-todo on PostgreSQL (outbox relay) + nats-server + one svc-broadcaster + a sink;
raw:     `bench/raw_pipeline.py` (asyncpg insert, then nats-py publish, before answering) + its
         raw pull consumer POSTing to the same sink.

Each round POSTs `--todos` todos from 32 keep-alive connections as fast as they are accepted,
watches the TODOS stream (arrival time of every event) and the sink, and prints: todos accepted/s;
events published/s and the pace (events on the stream while the POSTs ran / todos accepted in
that window); outbox lag p50/p99 (event time -> on the stream); deliveries/s; POST -> webhook
p50/p99; lost and duplicated (by event id at the sink). Rounds alternate the two pipelines; the
ratios compare medians.

Run: .venv/bin/python bench/pipeline_throughput.py [--todos 3000] [--rounds 2]
     BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) names an admin
     connection; each round gets a fresh database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import asyncpg
import nats
from benchkit import VENV_BIN, Launched, machine, percentile
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from sink import Sink

from shared_contracts.catalog import DLQ, TODO_COMMANDS, TODOS
from shared_runtime.messaging import declare_streams
from shared_testkit.nats_server import NatsServer

CONNECTIONS = 32
CONCURRENCY = 64
ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
RAW = Path(__file__).with_name("raw_pipeline.py")


@dataclass
class Round:
    accepted: dict[str, float] = field(default_factory=dict)
    """todo id -> when its 201 arrived"""
    window: tuple[float, float] = (0.0, 0.0)
    events: dict[str, tuple[str, float, float]] = field(default_factory=dict)
    """event id -> (todo id, event time, arrival on the stream)"""


async def post_todos(port: int, count: int, result: Round) -> None:
    """Keep-alive POSTs from CONNECTIONS clients until `count` todos are accepted."""
    remaining = count

    async def client() -> None:
        nonlocal remaining
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0:
                remaining -= 1
                body = json.dumps({"text": f"bench {uuid.uuid4().hex[:8]}"}).encode()
                writer.write(
                    b"POST /api/todos HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json"
                    + f"\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                    + body
                )
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                answer = await reader.readexactly(length)
                if head.startswith(b"HTTP/1.1 201"):
                    result.accepted[json.loads(answer)["id"]] = time.time()
                else:
                    remaining += 1
        finally:
            writer.close()

    started = time.time()
    await asyncio.gather(*(client() for _ in range(CONNECTIONS)))
    result.window = (started, time.time())


async def run_round(port: int, nats_url: str, sink: Sink, count: int) -> Round:
    result = Round()
    nc = await nats.connect(nats_url)

    async def arrived(msg: Msg) -> None:
        if msg.subject != "todos.events.created":
            return
        headers = msg.headers or {}
        event_time = datetime.fromisoformat(headers["ce-time"]).timestamp()
        result.events[headers["ce-id"]] = (json.loads(msg.data)["id"], event_time, time.time())

    await nc.jetstream().subscribe(
        TODOS.subjects[0],
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        cb=arrived,
    )
    sink.forget()
    await post_todos(port, count, result)
    deadline = time.time() + 120
    while len(result.events) < len(result.accepted) and time.time() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.2)  # polling a count the subscription callback raises
    await nc.close()
    return result


def report(name: str, result: Round, received: dict[str, list[float]]) -> dict[str, float]:
    start, end = result.window
    accepted_per_s = len(result.accepted) / (end - start)
    on_stream = sorted(arrival for _, _, arrival in result.events.values())
    in_window = sum(1 for arrival in on_stream if arrival <= end)
    published_per_s = (len(on_stream) - 1) / (on_stream[-1] - on_stream[0])
    lags = [(arrival - at) * 1000 for _, at, arrival in result.events.values()]
    delivered = sorted(t for key in result.events for t in received.get(key, [])[:1])
    deliveries_per_s = (len(delivered) - 1) / (delivered[-1] - delivered[0])
    end_to_end = [
        (received[key][0] - result.accepted[todo]) * 1000
        for key, (todo, _, _) in result.events.items()
        if key in received and todo in result.accepted
    ]
    events_of_accepted = {todo for todo, _, _ in result.events.values()}
    lost = len(set(result.accepted) - events_of_accepted) + sum(
        1 for key in result.events if key not in received
    )
    duplicated = sum(len(received[key]) - 1 for key in result.events if key in received)
    print(
        f"  {name:8} accepted {accepted_per_s:6.0f}/s | published {published_per_s:6.0f}/s,"
        f" pace {in_window / len(result.accepted):.2f} | lag p50 {percentile(lags, 0.5):6.0f} ms"
        f" p99 {percentile(lags, 0.99):6.0f} ms | delivered {deliveries_per_s:6.0f}/s |"
        f" POST->webhook p50 {percentile(end_to_end, 0.5):6.0f} ms"
        f" p99 {percentile(end_to_end, 0.99):6.0f} ms | lost {lost} duplicated {duplicated}"
    )
    return {"accepted": accepted_per_s, "delivered": deliveries_per_s}


async def fresh_database(name: str) -> str:
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def drop_database(name: str) -> None:
    admin = await asyncpg.connect(ADMIN_URL)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--todos", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    server = NatsServer(workdir / "jetstream")
    server.start()
    sink = Sink()
    print(machine())
    figures: dict[str, list[dict[str, float]]] = {"project": [], "raw": []}
    try:

        async def declare() -> None:
            nc = await nats.connect(server.url)
            await declare_streams(nc.jetstream(), (TODOS, TODO_COMMANDS, DLQ))
            await nc.close()

        asyncio.run(declare())
        for number in range(args.rounds):
            order = ["project", "raw"] if number % 2 == 0 else ["raw", "project"]
            for name in order:
                database = f"bench_pipeline_{uuid.uuid4().hex[:8]}"
                url = asyncio.run(fresh_database(database))
                env = {
                    "NATS_URL": server.url,
                    "DATABASE_URL": url,
                    "LOG_LEVEL": "WARNING",
                    "DATA_DIR": str(workdir / name),
                    "IMAGE_SOURCE_URL": "http://127.0.0.1:9/unreachable",
                    "WEBHOOK_URL": sink.url,
                    "WEBHOOK_FORMAT": "generic",
                    "WEBHOOK_RATE_PER_SECOND": "0",
                    "BROADCASTER_CONCURRENCY": str(CONCURRENCY),
                    "BROADCASTER_DURABLE": f"bench-{name}-{number}",
                    "BROADCASTER_START_AT": "new",
                }
                if name == "project":
                    api = Launched([str(VENV_BIN / "svc-todo")], env)
                    consumer = Launched([str(VENV_BIN / "svc-broadcaster")], env)
                else:
                    api = Launched(
                        [
                            str(VENV_BIN / "uvicorn"),
                            "--app-dir",
                            str(RAW.parent),
                            "--port",
                            "{port}",
                            "--log-level",
                            "warning",
                            "raw_pipeline:app",
                        ],
                        env,
                    )
                    consumer = Launched(
                        [
                            sys.executable,
                            str(RAW),
                            "consume",
                            server.url,
                            sink.url,
                            f"bench-{name}-{number}",
                            str(CONCURRENCY),
                        ],
                        env,
                    )
                try:
                    api.seconds_until_ok("/healthz" if name == "raw" else "/readyz")
                    if name == "project":
                        consumer.seconds_until_ok("/readyz")
                    else:
                        time.sleep(1.0)  # the raw consumer has no readiness endpoint
                    result = asyncio.run(run_round(api.port, server.url, sink, args.todos))
                    received = sink.wait_for(set(result.events))
                    print(f"round {number + 1}")
                    figures[name].append(report(name, result, received))
                finally:
                    api.stop()
                    consumer.stop()
                    asyncio.run(drop_database(database))
        print(f"medians of {args.rounds} rounds of {args.todos} todos; ratio project / raw")
        for measure in ("accepted", "delivered"):
            project = statistics.median(f[measure] for f in figures["project"])
            raw = statistics.median(f[measure] for f in figures["raw"])
            ratio = project / raw
            print(f"  {measure:9} project {project:6.0f}/s  raw {raw:6.0f}/s  ratio {ratio:.2f}")
    finally:
        sink.close()
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
