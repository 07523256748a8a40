"""Chaos under load on the deployment's three-node JetStream cluster (nats/cluster.conf, every
stream, consumer and bucket at R3 from the NACK manifests): svc-todo (2 replicas, PostgreSQL),
svc-broadcaster (3 replicas) and a chat webhook, every service connected with the cluster's
seed list as its own NATS user, as in Kubernetes.

While a steady stream of todos is created (and some marked done), the node leading TODOS is
killed with `kill -9` and restarted, then the node leading the delivery ledger's bucket, then a
node is cut off from its peers and let back. Afterwards every accepted change is on TODOS once,
in each todo's order, and announced exactly once (by event id), in each todo's order too; no
request got a server error (writes go to PostgreSQL and the outbox, never to NATS). The time from
each fault to a change made after it reaching the chat, and to the cluster being whole again, is
printed.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from nats.aio.client import Client

from shared_testkit.nats_cluster import NatsCluster
from shared_testkit.polling import eventually
from shared_testkit.processes import ServiceProcess
from shared_testkit.webhook_sink import WebhookSink

RATE_PER_SECOND = 100
"""POSTs per second across both svc-todo replicas (every fifth todo is also marked done)."""
WORKERS = 10
DONE_EVERY = 5
WARM_UP_TODOS = 300
RECOVERY_SECONDS = 60.0
"""A fault must be over, end to end, within this; JetStream elects in about 10 s."""
DRAIN_SECONDS = 90.0
"""After the load: a message whose ack died with its leader is redelivered after ack_wait (30 s)."""
LEDGER = "KV_broadcaster_deliveries"
KEEPALIVE_SECONDS = 2.0


@dataclass
class Load:
    """A paced load of creates and done-marks on the svc-todo replicas, and what it got back."""

    todos: list[ServiceProcess]
    statuses: Counter[str] = field(default_factory=Counter)
    created: set[str] = field(default_factory=set)
    marked_done: set[str] = field(default_factory=set)
    server_errors: list[tuple[float, str, int]] = field(default_factory=list)
    running: bool = True

    async def run(self) -> None:
        # Idle connections are dropped before the server's keep-alive (uvicorn: 5 s) would: at
        # equal timeouts a request can go out on a connection the server is closing.
        limits = httpx.Limits(keepalive_expiry=KEEPALIVE_SECONDS)
        async with httpx.AsyncClient(timeout=30, limits=limits) as client:
            await asyncio.gather(*(self._worker(client, n) for n in range(WORKERS)))

    async def _worker(self, client: httpx.AsyncClient, number: int) -> None:
        interval = WORKERS / RATE_PER_SECOND
        next_at = time.monotonic()
        sent = 0
        while self.running:
            base = self.todos[(number + sent) % len(self.todos)].url
            text = {"text": f"worker {number} todo {sent}"}
            todo = await self._send(client, "POST", f"{base}/api/todos", text)
            if todo is not None:
                self.created.add(todo)
                if sent % DONE_EVERY == 0 and await self._send(
                    client, "PUT", f"{base}/api/todos/{todo}", {"done": True}
                ):
                    self.marked_done.add(todo)
            sent += 1
            next_at += interval
            await asyncio.sleep(max(next_at - time.monotonic(), 0))  # pacing, not synchronisation

    async def _send(
        self, client: httpx.AsyncClient, method: str, url: str, body: dict[str, object]
    ) -> str | None:
        """The todo's id when the request succeeded."""
        response = await client.request(method, url, json=body)
        self.statuses[f"{method} {response.status_code}"] += 1
        if response.status_code >= 500:
            self.server_errors.append((time.monotonic(), method, response.status_code))
        return str(response.json()["id"]) if response.status_code in (200, 201) else None


@dataclass
class Event:
    sequence: int
    event_id: str
    kind: str
    todo: str


async def events_on_todos(client: Client) -> list[Event]:
    """Every event on TODOS, oldest first, read with an ordered consumer (as the live page)."""
    js = client.jetstream(timeout=5)
    total = (await js.stream_info("TODOS")).state.messages
    events: list[Event] = []
    subscription = await js.subscribe("todos.events.>", stream="TODOS", ordered_consumer=True)
    while len(events) < total:
        message = await subscription.next_msg(timeout=10)
        headers = message.headers or {}
        events.append(
            Event(
                message.metadata.sequence.stream,
                headers["ce-id"],
                headers["ce-type"],
                json.loads(message.data)["id"],
            )
        )
    await subscription.unsubscribe()
    return events


def start_services(
    cluster: NatsCluster,
    database_url: str,
    sink: WebhookSink,
    directory: Path,
    started: list[ServiceProcess],
) -> tuple[list[ServiceProcess], list[ServiceProcess]]:
    """Two svc-todo and three svc-broadcaster processes, bound to the provisioned resources."""

    def nats_env(user: str) -> dict[str, str]:
        return {
            "NATS_URL": cluster.seed_url,
            "NATS_USER": user,
            "NATS_PASSWORD": cluster.passwords[user],
            "DECLARE_STREAMS": "false",
            "LOG_LEVEL": "WARNING",
        }

    todo_env = {
        **nats_env("todo"),
        "DATABASE_URL": database_url,
        "DATA_DIR": str(directory / "todo"),
        "IMAGE_SOURCE_URL": "http://127.0.0.1:9/unreachable",
        "OUTBOX_SWEEP_SECONDS": "0.5",
    }
    broadcaster_env = {
        **nats_env("broadcaster"),
        "WEBHOOK_URL": f"{sink.url}/hook",
        "WEBHOOK_FORMAT": "generic",
        "WEBHOOK_RATE_PER_SECOND": "0",
        "BROADCASTER_RETRY_BASE_SECONDS": "0.2",
        "BROADCASTER_RETRY_MAX_SECONDS": "2",
    }
    todos = [ServiceProcess("svc-todo", todo_env, directory) for _ in range(2)]
    broadcasters = [ServiceProcess("svc-broadcaster", broadcaster_env, directory) for _ in range(3)]
    for process in [*todos, *broadcasters]:
        started.append(process)
        process.start(wait_for="/readyz", timeout=60)
    return todos, broadcasters


async def test_a_cluster_losing_its_leaders_and_a_partition_under_load_loses_and_doubles_nothing(
    nats_cluster: NatsCluster,
    database_url: str,
    webhook_sink: WebhookSink,
    tmp_path: Path,
    processes: list[ServiceProcess],
) -> None:
    started = time.monotonic()
    todos, _ = await asyncio.to_thread(
        start_services, nats_cluster, database_url, webhook_sink, tmp_path, processes
    )
    observer = await nats_cluster.connect("todo")
    admin = await nats_cluster.connect("provisioner")
    load = Load(todos)
    load_task = asyncio.create_task(load.run())
    recovery: dict[str, tuple[float, float]] = {}
    probes = 0

    async def announced_after_fault() -> float:
        """A todo created now reaches the chat: seconds it took."""
        nonlocal probes
        probes += 1
        text = f"probe {probes} after the fault"
        since = time.monotonic()
        async with httpx.AsyncClient(base_url=todos[probes % 2].url) as client:
            assert (await client.post("/api/todos", json={"text": text})).status_code == 201

        async def arrived() -> bool:
            return any(text.encode() in call.body for call in webhook_sink.accepted())

        await eventually(arrived, timeout=RECOVERY_SECONDS, interval=0.2, message=text)
        return time.monotonic() - since

    async def whole_again(since: float) -> float:
        """Every node routed and current, TODOS and the ledger fully replicated."""
        await asyncio.to_thread(nats_cluster.wait_routed, RECOVERY_SECONDS)
        await asyncio.to_thread(nats_cluster.wait_healthy, RECOVERY_SECONDS)
        await nats_cluster.wait_replicated(admin, ["TODOS", LEDGER], RECOVERY_SECONDS)
        return time.monotonic() - since

    async def kill_leader_of(stream: str) -> None:
        leader = await nats_cluster.wait_leader(admin, stream, RECOVERY_SECONDS)
        since = time.monotonic()
        nats_cluster.kill(leader)
        flowing = await announced_after_fault()
        await asyncio.to_thread(nats_cluster.restart, leader)
        recovery[f"kill -9 of nats-{leader}, leader of {stream}"] = (
            flowing,
            await whole_again(since),
        )

    async def partition_leader_of(stream: str) -> None:
        node = await nats_cluster.wait_leader(admin, stream, RECOVERY_SECONDS)
        since = time.monotonic()
        nats_cluster.partition(node)
        flowing = await announced_after_fault()
        nats_cluster.heal(node)
        recovery[f"partition of nats-{node}, leader of {stream}"] = (
            flowing,
            await whole_again(since),
        )

    try:
        await until(lambda: len(load.created) >= WARM_UP_TODOS, "the load warmed up")
        await kill_leader_of("TODOS")
        await kill_leader_of(LEDGER)
        await partition_leader_of("TODOS")
        await until(lambda: len(load.created) >= WARM_UP_TODOS * 4, "the load went on")
    finally:
        load.running = False
        await load_task
    load_seconds = time.monotonic() - started

    changes = len(load.created) + len(load.marked_done) + probes

    async def all_published() -> bool:
        """The outboxes have caught up: TODOS holds an event per accepted change."""
        state = (await observer.jetstream(timeout=5).stream_info("TODOS")).state
        return state.messages >= changes

    await eventually(all_published, timeout=DRAIN_SECONDS, interval=0.2, message="all published")
    stored = await events_on_todos(observer)
    print(f"\nload: {dict(load.statuses)} in {load_seconds:.0f} s; {len(stored)} events")
    for fault, (flowing, whole) in recovery.items():
        print(f"{fault}: a new todo announced after {flowing:.1f} s, cluster whole {whole:.1f} s")

    async def all_announced() -> bool:
        return set(webhook_sink.accepted_keys()) >= {e.event_id for e in stored}

    drained = time.monotonic()
    await eventually(all_announced, timeout=DRAIN_SECONDS, interval=0.2, message="all announced")
    print(f"the last announcement {time.monotonic() - drained:.1f} s after the load stopped")
    await observer.close()
    await admin.close()

    assert not load.server_errors, f"server errors during the faults: {load.server_errors}"
    created = Counter(e.todo for e in stored if e.kind == "todo.created.v1")
    assert not load.created - set(created), "an accepted todo has no event on TODOS"
    assert set(created.values()) == {1}, "a todo's creation is on TODOS twice"
    updated = {e.todo: e.sequence for e in stored if e.kind == "todo.updated.v1"}
    assert not load.marked_done - set(updated), "an accepted change has no event on TODOS"
    first = {e.todo: e.sequence for e in reversed(stored)}
    assert all(first[todo] < sequence for todo, sequence in updated.items()), "out of order"
    assert len({e.event_id for e in stored}) == len(stored), "an event id is on TODOS twice"

    announced = webhook_sink.accepted_keys()
    assert set(announced) == {e.event_id for e in stored}, "an announcement of no event"
    twice = sorted(key or "" for key, count in announced.items() if count > 1)
    assert not twice, f"events announced twice: {twice}"
    assert _reordered(webhook_sink, stored) == [], "a done-mark announced before its creation"


async def until(condition: Callable[[], bool], message: str) -> None:
    async def holds() -> bool:
        return condition()

    await eventually(holds, timeout=RECOVERY_SECONDS * 2, interval=0.1, message=message)


def _reordered(sink: WebhookSink, stored: list[Event]) -> list[str]:
    """Todos whose done-mark reached the chat before their creation."""
    by_id = {e.event_id: e for e in stored}
    created: set[str] = set()
    reordered = []
    for call in sink.accepted():
        event = by_id[call.idempotency_key or ""]
        if event.kind == "todo.created.v1":
            created.add(event.todo)
        elif event.todo not in created:
            reordered.append(event.todo)
    return reordered
