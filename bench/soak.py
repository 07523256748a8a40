"""Soak: a steady mixed load on the whole todo pipeline for a long while, watching for growth.

svc-todo (PostgreSQL, a fresh database) + svc-broadcaster (generic webhook to `bench/sink.py`) +
a private nats-server, under an open-loop load of `--rate` requests/s: create (half of them
with an `Idempotency-Key`, some repeated), toggle done (PUT), delete, list pages (`GET
/api/todos` with `If-None-Match`, sometimes following the `next` link), the HTML page, and
`--sse-clients` pages holding `/events` open, re-reading the list fragment when told, and
reconnecting now and then. Creates and deletes balance around `--todos` live todos.

Every `--sample-seconds` it samples RSS and open file descriptors of every process (the two
services, nats-server, the sink), the outbox and idempotency row counts, and the entries of the
delivery ledger's key-value bucket. At the end it prints:

- RSS and fd slope per process (least squares over all samples and over the second half:
  MB/h, fds/h);
- outbox / idempotency rows and ledger entries: first, max, last, and their slope once the
  retention has had time to act (rows/h; bounded means about 0);
- p99 latency per `--window-minutes` window, per operation, and last window / first window;
- errors: every 5xx or failed request (a 5xx is a finding);
- events: every accepted change's event on the TODOS stream, and every event id at the sink
  exactly once (lost / duplicated).

Retention is shortened so that a 30 minute run shows the cleanup at work (housekeeping deletes
every 30 s): published outbox rows are kept `--outbox-retention-minutes` (svc-todo
`OUTBOX_RETENTION_MINUTES`, default 60), idempotency keys `--idempotency-retention-minutes`
(`IDEMPOTENCY_RETENTION_HOURS`, default 24 h), and the ledger remembers a delivery
`--ledger-ttl-minutes` (svc-broadcaster `BROADCASTER_DEDUP_TTL_HOURS`, default one week).

Run: .venv/bin/python bench/soak.py [--minutes 30] [--rate 20] [--sse-clients 4]
     BENCH_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test) names an admin
     connection; the run gets a fresh database, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import nats
from benchkit import VENV_BIN, Launched, machine, percentile, rss_megabytes
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import ConsumerConfig, DeliverPolicy
from sink import Sink

from shared_contracts.catalog import TODOS
from shared_testkit.nats_server import NatsServer
from shared_testkit.postgres import create_database, drop_database

ADMIN_URL = os.environ.get("BENCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
LEDGER_BUCKET = "broadcaster_deliveries"
IN_FLIGHT_LIMIT = 64
"""Requests outstanding at once; beyond it a scheduled request is counted as skipped, so a
stalled service shows up as skips instead of an ever-growing pile of tasks in the load."""
MIX: dict[str, float] = {
    "churn": 0.36,  # create below the target number of todos, delete above it
    "toggle": 0.20,
    "list": 0.30,
    "page": 0.06,
    "get": 0.08,
}
EVENT_OF = {"create": "todo.created.v1", "toggle": "todo.updated.v1", "delete": "todo.deleted.v1"}


@dataclass
class Load:
    started: float = field(default_factory=time.monotonic)
    latencies: list[tuple[float, str, float]] = field(default_factory=list)
    """(seconds since start, operation, milliseconds) of every answered request"""
    errors: Counter[str] = field(default_factory=Counter)
    """"operation status" (or the exception's name) -> count, for 5xx and failures"""
    accepted: Counter[tuple[str, str]] = field(default_factory=Counter)
    """(event type, todo id) -> changes the API accepted, each owing one event"""
    live: dict[str, bool] = field(default_factory=dict)
    """todo id -> done, of todos no request is working on"""
    skipped: int = 0
    sse_events: int = 0
    sse_connects: int = 0
    replays: int = 0

    def record(self, operation: str, began: float, status: int) -> None:
        now = time.monotonic()
        self.latencies.append((now - self.started, operation, (now - began) * 1000))
        if status >= 500:
            self.errors[f"{operation} {status}"] += 1


@dataclass
class Sample:
    minute: float
    rss: dict[str, float]
    fds: dict[str, int]
    tables: dict[str, int]


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def slope_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (minute, value) points, per hour."""
    if len(points) < 2:
        return float("nan")
    return statistics.linear_regression(*zip(*points, strict=True)).slope * 60


class Traffic:
    """The request side of the soak: one scheduled operation at a time, never waited for."""

    def __init__(self, client: httpx.AsyncClient, load: Load, target: int, seed: int) -> None:
        self._client = client
        self._load = load
        self._target = target
        self._random = random.Random(seed)
        self._etags: dict[str, str] = {}
        self._in_flight = 0

    def schedule(self) -> asyncio.Task[None] | None:
        if self._in_flight >= IN_FLIGHT_LIMIT:
            self._load.skipped += 1
            return None
        operation = self._random.choices(list(MIX), list(MIX.values()))[0]
        if operation == "churn":
            operation = "create" if len(self._load.live) < self._target else "delete"
        self._in_flight += 1
        task = asyncio.create_task(self._run(operation))
        task.add_done_callback(lambda _: self._finished())
        return task

    def _finished(self) -> None:
        self._in_flight -= 1

    async def _run(self, operation: str) -> None:
        if operation in ("toggle", "delete", "get") and not self._load.live:
            operation = "create"
        began = time.monotonic()
        try:
            await getattr(self, f"_{operation}")(began)
        except (httpx.HTTPError, OSError) as exc:
            self._load.errors[f"{operation} {type(exc).__name__}: {exc}"] += 1

    def _take(self) -> tuple[str, bool]:
        """A live todo no other request is working on, removed from the pool meanwhile."""
        todo_id = self._random.choice(list(self._load.live))
        return todo_id, self._load.live.pop(todo_id)

    async def _create(self, began: float) -> None:
        body = {"text": f"soak {uuid.uuid4().hex[:12]}"}
        keyed = self._random.random() < 0.5
        headers = {"Idempotency-Key": uuid.uuid4().hex} if keyed else {}
        response = await self._client.post("/api/todos", json=body, headers=headers)
        self._load.record("create", began, response.status_code)
        if response.status_code != 201:
            return
        todo_id = response.json()["id"]
        self._load.accepted[(EVENT_OF["create"], todo_id)] += 1
        if keyed and self._random.random() < 0.1:  # a client retrying: same todo, no new event
            again = await self._client.post("/api/todos", json=body, headers=headers)
            self._load.replays += 1
            if again.status_code != 201 or again.json()["id"] != todo_id:
                self._load.errors[f"replay {again.status_code} not the first todo"] += 1
        self._load.live[todo_id] = False

    async def _toggle(self, began: float) -> None:
        todo_id, done = self._take()
        response = await self._client.put(f"/api/todos/{todo_id}", json={"done": not done})
        self._load.record("toggle", began, response.status_code)
        if response.status_code == 200:
            self._load.accepted[(EVENT_OF["toggle"], todo_id)] += 1
            done = not done
        self._load.live[todo_id] = done

    async def _delete(self, began: float) -> None:
        todo_id, done = self._take()
        response = await self._client.delete(f"/api/todos/{todo_id}")
        self._load.record("delete", began, response.status_code)
        if response.status_code == 204:
            self._load.accepted[(EVENT_OF["delete"], todo_id)] += 1
        else:
            self._load.live[todo_id] = done

    async def _get(self, began: float) -> None:
        todo_id, done = self._take()
        try:
            response = await self._client.get(f"/api/todos/{todo_id}")
            self._load.record("get", began, response.status_code)
        finally:
            self._load.live[todo_id] = done

    async def _list(self, began: float) -> None:
        """A client polling the first page with its ETag; a third also read the next page."""
        url = "/api/todos?limit=20"
        headers = {"If-None-Match": self._etags[url]} if url in self._etags else {}
        response = await self._client.get(url, headers=headers)
        self._load.record("list", began, response.status_code)
        if "ETag" in response.headers:
            self._etags[url] = response.headers["ETag"]
        following = response.links.get("next", {}).get("url")
        if following and self._random.random() < 1 / 3:
            began = time.monotonic()
            response = await self._client.get(following)
            self._load.record("list-next", began, response.status_code)

    async def _page(self, began: float) -> None:
        response = await self._client.get("/")
        self._load.record("page", began, response.status_code)


async def sse_client(base_url: str, load: Load, seed: int, stop: asyncio.Event) -> None:
    """A browser tab: holds /events open for 20-90 s, then reconnects; on a change it re-reads
    the list fragment, at most every 5 s, as the page does through HTMX."""
    rng = random.Random(seed)
    limits = httpx.Limits(keepalive_expiry=2)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        while not stop.is_set():
            hold = rng.uniform(20, 90)
            began = time.monotonic()
            refreshed = 0.0
            try:
                async with asyncio.timeout(hold), client.stream("GET", "/events") as response:
                    load.record("sse-connect", began, response.status_code)
                    load.sse_connects += 1
                    async for line in response.aiter_lines():
                        if stop.is_set():
                            break
                        if not line.startswith("event:"):
                            continue
                        load.sse_events += 1
                        if time.monotonic() - refreshed >= 5:
                            refreshed = time.monotonic()
                            await fragment(client, load, refreshed)
            except TimeoutError:
                pass  # the tab's time is up: reconnect
            except (httpx.HTTPError, OSError) as exc:
                load.errors[f"sse {type(exc).__name__}: {exc}"] += 1
                await asyncio.sleep(1)


async def fragment(client: httpx.AsyncClient, load: Load, began: float) -> None:
    try:
        response = await client.get("/fragments/todos")
    except (httpx.HTTPError, OSError) as exc:
        load.errors[f"fragment {type(exc).__name__}: {exc}"] += 1
        return
    load.record("fragment", began, response.status_code)


async def follow_events(nats_url: str, seen: dict[str, tuple[str, str]]) -> Client:
    """Every event on TODOS from now on: ce-id -> (type, todo id)."""
    nc = await nats.connect(nats_url)

    async def arrived(msg: Msg) -> None:
        headers = msg.headers or {}
        seen[headers["ce-id"]] = (headers["ce-type"], json.loads(msg.data)["id"])

    await nc.jetstream().subscribe(
        TODOS.subjects[0],
        ordered_consumer=True,
        config=ConsumerConfig(deliver_policy=DeliverPolicy.NEW),
        cb=arrived,
    )
    return nc


async def count_state(database_url: str, nc: Client) -> dict[str, int]:
    connection = await asyncpg.connect(database_url)
    try:
        outbox = await connection.fetchval("SELECT count(*) FROM todo_outbox")
        unpublished = await connection.fetchval(
            "SELECT count(*) FROM todo_outbox WHERE published_at IS NULL"
        )
        idempotency = await connection.fetchval("SELECT count(*) FROM todo_idempotency")
        todos = await connection.fetchval("SELECT count(*) FROM todo")
    finally:
        await connection.close()
    ledger = (await nc.jetstream().stream_info(f"KV_{LEDGER_BUCKET}")).state.messages
    return {
        "outbox": outbox,
        "unpublished": unpublished,
        "idempotency": idempotency,
        "todos": todos,
        "ledger": ledger,
    }


async def run(
    args: argparse.Namespace,
    pids: dict[str, int],
    base_url: str,
    nats_url: str,
    database_url: str,
    sink: Sink,
) -> None:
    load = Load()
    seen: dict[str, tuple[str, str]] = {}
    watcher = await follow_events(nats_url, seen)
    samples: list[Sample] = []
    stop = asyncio.Event()

    async def sample() -> None:
        minute = (time.monotonic() - load.started) / 60
        samples.append(
            Sample(
                minute,
                {name: rss_megabytes(pid) for name, pid in pids.items()},
                {name: open_fds(pid) for name, pid in pids.items()},
                await count_state(database_url, watcher),
            )
        )
        last = samples[-1]
        print(
            f"  {minute:5.1f} min | "
            + " ".join(f"{n} {last.rss[n]:.0f}MB/{last.fds[n]}fd" for n in pids)
            + " | "
            + " ".join(f"{k} {v}" for k, v in last.tables.items())
            + f" | requests {len(load.latencies)} 5xx/failed {sum(load.errors.values())}"
            + f" skipped {load.skipped}",
            flush=True,
        )

    # Idle connections are dropped before uvicorn's 5 s keep-alive ends, so no request races
    # the server closing its connection (a client artefact, not a server error).
    limits = httpx.Limits(
        max_connections=IN_FLIGHT_LIMIT, max_keepalive_connections=16, keepalive_expiry=2
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as client:
        traffic = Traffic(client, load, args.todos, seed=1)
        tabs = [
            asyncio.create_task(sse_client(base_url, load, seed=100 + n, stop=stop))
            for n in range(args.sse_clients)
        ]
        await sample()
        duration = args.minutes * 60
        interval = 1 / args.rate
        pending: set[asyncio.Task[None]] = set()
        next_sample = args.sample_seconds
        n = 0
        while (elapsed := time.monotonic() - load.started) < duration:
            if elapsed >= next_sample:
                next_sample += args.sample_seconds
                await sample()
            task = traffic.schedule()
            if task is not None:
                pending.add(task)
                task.add_done_callback(pending.discard)
            n += 1
            await asyncio.sleep(max(0.0, load.started + n * interval - time.monotonic()))
        stop.set()
        await asyncio.gather(*pending)
        for tab in tabs:
            tab.cancel()
        await asyncio.gather(*tabs, return_exceptions=True)
        await sample()

    expected = sum(load.accepted.values())
    deadline = time.monotonic() + 120
    while len(seen) < expected and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.5)  # polling a count the subscription callback raises
    received = await asyncio.to_thread(sink.wait_for, set(seen), 120)
    await watcher.close()
    report(args, load, samples, seen, received)


def report(
    args: argparse.Namespace,
    load: Load,
    samples: list[Sample],
    seen: dict[str, tuple[str, str]],
    received: dict[str, list[float]],
) -> None:
    minutes = samples[-1].minute
    answered = len(load.latencies)
    print(
        f"\n{answered} requests in {minutes:.1f} min ({answered / minutes / 60:.1f}/s), "
        f"{load.replays} idempotent replays, {load.skipped} skipped (in-flight limit), "
        f"{load.sse_connects} SSE connections, {load.sse_events} SSE events"
    )
    half = [s for s in samples if s.minute >= minutes / 2]
    print("memory and descriptors (least-squares slope: all samples | second half)")
    for name in samples[0].rss:
        rss = [(s.minute, s.rss[name]) for s in samples]
        fds = [(s.minute, float(s.fds[name])) for s in samples]
        print(
            f"  {name:12} RSS {rss[0][1]:6.1f} -> {rss[-1][1]:6.1f} MB, "
            f"slope {slope_per_hour(rss):+7.1f} | "
            f"{slope_per_hour([(s.minute, s.rss[name]) for s in half]):+7.1f} MB/h; "
            f"fds {fds[0][1]:.0f} -> {fds[-1][1]:.0f} (max {max(v for _, v in fds):.0f}), "
            f"slope {slope_per_hour(fds):+6.1f} | "
            f"{slope_per_hour([(s.minute, float(s.fds[name])) for s in half]):+6.1f} fds/h"
        )
    settled_from = (
        max(
            args.outbox_retention_minutes,
            args.idempotency_retention_minutes,
            args.ledger_ttl_minutes,
        )
        + 2
    )
    settled = [s for s in samples if s.minute >= settled_from]
    print(f"tables and bucket (slope from minute {settled_from:g}, once retention acts)")
    for name in samples[0].tables:
        values = [s.tables[name] for s in samples]
        slope = slope_per_hour([(s.minute, float(s.tables[name])) for s in settled])
        print(
            f"  {name:12} first {values[0]:6d} max {max(values):6d} last {values[-1]:6d} "
            f"slope after retention {slope:+8.0f}/h"
        )
    window = args.window_minutes * 60
    by_window: defaultdict[int, defaultdict[str, list[float]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for at, operation, milliseconds in load.latencies:
        cells = by_window[int(at // window)]
        cells[operation].append(milliseconds)
        cells["all"].append(milliseconds)
    operations = ["all", *sorted({op for _, op, _ in load.latencies})]
    print(f"p99 latency per {args.window_minutes:g}-minute window (ms)")
    print("  window  " + "".join(f"{op:>12}" for op in operations))
    for slot in sorted(by_window):
        cells = by_window[slot]
        print(
            f"  {slot * args.window_minutes:4g}-{(slot + 1) * args.window_minutes:<3g}"
            + "".join(
                f"{percentile(cells[op], 0.99):12.1f}" if cells[op] else f"{'-':>12}"
                for op in operations
            )
        )
    full = [s for s in sorted(by_window) if (s + 1) * window <= minutes * 60 + 1]
    if len(full) >= 2:
        first, last = by_window[full[0]]["all"], by_window[full[-1]]["all"]
        print(
            f"  flat? p99 last full window / first: "
            f"{percentile(last, 0.99) / percentile(first, 0.99):.2f}"
        )
    print(f"errors (5xx or failed): {dict(load.errors) or 'none'}")
    on_stream = Counter(seen.values())
    missing = sum(max(0, n - on_stream[key]) for key, n in load.accepted.items())
    extra = sum(max(0, n - load.accepted[key]) for key, n in on_stream.items())
    lost_at_sink = sum(1 for event_id in seen if event_id not in received)
    duplicated = sum(len(received[e]) - 1 for e in seen if e in received)
    print(
        f"events: {sum(load.accepted.values())} accepted changes, {len(seen)} events on TODOS "
        f"(missing {missing}, unexpected {extra}), {len(seen) - lost_at_sink} at the sink "
        f"(lost {lost_at_sink}, duplicated {duplicated})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--rate", type=float, default=20, help="requests per second, open loop")
    parser.add_argument("--todos", type=int, default=300, help="live todos creates aim at")
    parser.add_argument("--sse-clients", type=int, default=4)
    parser.add_argument("--sample-seconds", type=float, default=60)
    parser.add_argument("--window-minutes", type=float, default=5)
    parser.add_argument("--outbox-retention-minutes", type=float, default=5)
    parser.add_argument("--idempotency-retention-minutes", type=float, default=5)
    parser.add_argument("--ledger-ttl-minutes", type=float, default=5)
    args = parser.parse_args()

    sink = Sink()
    with tempfile.TemporaryDirectory(prefix="bench-soak-") as scratch:
        server = NatsServer(Path(scratch) / "jetstream")
        server.start()
        database_url = asyncio.run(create_database(ADMIN_URL))
        env = {"NATS_URL": server.url, "DATA_DIR": scratch, "LOG_LEVEL": "WARNING"}
        todo = Launched(
            [str(VENV_BIN / "svc-todo")],
            {
                **env,
                "DATABASE_URL": database_url,
                "IMAGE_SOURCE_URL": "http://127.0.0.1:9/unreachable",
                "OUTBOX_RETENTION_MINUTES": str(args.outbox_retention_minutes),
                "IDEMPOTENCY_RETENTION_HOURS": str(args.idempotency_retention_minutes / 60),
            },
        )
        broadcaster = Launched(
            [str(VENV_BIN / "svc-broadcaster")],
            {
                **env,
                "WEBHOOK_URL": sink.url,
                "WEBHOOK_FORMAT": "generic",
                "WEBHOOK_RATE_PER_SECOND": "0",
                "BROADCASTER_DEDUP_BUCKET": LEDGER_BUCKET,
                "BROADCASTER_DEDUP_TTL_HOURS": str(args.ledger_ttl_minutes / 60),
            },
        )
        print(f"machine: {machine()}")
        print(
            f"soak: {args.minutes:g} min at {args.rate:g} requests/s, {args.sse_clients} SSE "
            f"clients, ~{args.todos} live todos; retention: outbox "
            f"{args.outbox_retention_minutes:g} min, idempotency keys "
            f"{args.idempotency_retention_minutes:g} min, "
            f"ledger TTL {args.ledger_ttl_minutes:g} min"
        )
        try:
            todo.seconds_until_ok("/readyz")
            broadcaster.seconds_until_ok("/readyz")
            assert server.process is not None
            pids = {
                "svc-todo": todo.process.pid,
                "broadcaster": broadcaster.process.pid,
                "nats-server": server.process.pid,
                "sink": sink.pid,
            }
            asyncio.run(
                run(args, pids, f"http://127.0.0.1:{todo.port}", server.url, database_url, sink)
            )
        finally:
            broadcaster.stop()
            todo.stop()
            sink.close()
            asyncio.run(drop_database(ADMIN_URL, database_url))
            server.stop()


if __name__ == "__main__":
    main()
