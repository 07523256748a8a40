"""Broadcaster replicas as real OS processes, and the events and dead letters they work on."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import msgspec
import nats
import pytest
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client.parser import text_string_to_metric_families

from shared_contracts.catalog import (
    DLQ,
    STREAMS,
    TODO_CREATED,
    TODO_DELETED,
    TODO_UPDATED,
    Channel,
)
from shared_contracts.cloudevents import PREDECESSOR_ID, CloudEvent
from shared_contracts.todos import Todo, TodoDeleted
from shared_runtime.messaging import declare_streams, publish_event
from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually
from shared_testkit.ports import free_port
from shared_testkit.webhook_sink import WebhookSink

COMMAND = str(Path(sys.executable).parent / "svc-broadcaster")

FAST_RETRIES = {
    "WEBHOOK_TIMEOUT_SECONDS": "2",
    "BROADCASTER_ACK_WAIT_SECONDS": "4",
    "BROADCASTER_RETRY_BASE_SECONDS": "0.2",
    "BROADCASTER_RETRY_MAX_SECONDS": "2",
    "WEBHOOK_RATE_PER_SECOND": "0",
}


@dataclass
class Replica:
    process: subprocess.Popen[bytes]
    port: int
    log_file: Path

    async def ready(self) -> bool:
        async with httpx.AsyncClient() as client:
            return (await client.get(self.url("/readyz"), timeout=2)).status_code == 200

    async def readiness(self) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.get(self.url("/readyz"), timeout=5)

    async def metrics(self) -> str:
        async with httpx.AsyncClient() as client:
            return (await client.get(self.url("/metrics"), timeout=5)).text

    async def metric(self, name: str, **labels: str) -> float:
        for family in text_string_to_metric_families(await self.metrics()):
            for sample in family.samples:
                if sample.name == name and all(
                    sample.labels.get(k) == v for k, v in labels.items()
                ):
                    return float(sample.value)
        raise AssertionError(f"no sample {name}{labels}")

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def output(self) -> str:
        return self.log_file.read_text(errors="replace")

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=10)

    def terminate(self) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)


def broadcaster_env(nats_server: NatsServer, sink: WebhookSink, **overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("WEBHOOK_", "BROADCASTER_"))}
    env.update(
        NATS_URL=nats_server.url,
        WEBHOOK_URL=f"{sink.url}/hook",
        WEBHOOK_FORMAT="generic",
        LOG_LEVEL="INFO",
        **FAST_RETRIES,
    )
    env.update(overrides)
    return env


class Fleet:
    """Starts `svc-broadcaster` processes; the fixture kills those still running at the end."""

    def __init__(self, tmp_path: Path, nats_server: NatsServer, sink: WebhookSink) -> None:
        self._tmp_path = tmp_path
        self._nats_server = nats_server
        self._sink = sink
        self.started: list[Replica] = []

    def start(self, **env: str) -> Replica:
        port = free_port()
        log_file = self._tmp_path / f"broadcaster-{port}.log"
        with log_file.open("wb") as out:
            process = subprocess.Popen(
                [COMMAND],
                env=broadcaster_env(self._nats_server, self._sink, PORT=str(port), **env),
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        replica = Replica(process, port, log_file)
        self.started.append(replica)
        return replica

    async def ready(self, *replicas: Replica, timeout: float = 30) -> None:
        async def probe() -> bool:
            return all(await asyncio.gather(*(r.ready() for r in replicas)))

        await eventually(probe, timeout=timeout, message="replicas ready")

    async def replay(self) -> dict[str, int]:
        """Run `svc-broadcaster dlq replay` and return the summary it prints."""
        process = await asyncio.create_subprocess_exec(
            COMMAND,
            "dlq",
            "replay",
            env=broadcaster_env(self._nats_server, self._sink, LOG_LEVEL="WARNING"),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(process.communicate(), 30)
        assert process.returncode == 0
        report: dict[str, int] = json.loads(out.decode().strip().splitlines()[-1])
        return report


@pytest.fixture
def fleet(tmp_path: Path, nats_server: NatsServer, webhook_sink: WebhookSink) -> Iterator[Fleet]:
    fleet = Fleet(tmp_path, nats_server, webhook_sink)
    yield fleet
    for replica in fleet.started:
        if replica.process.poll() is None:
            replica.kill()


@dataclass(frozen=True)
class DeadLetter:
    seq: int
    headers: dict[str, str]
    body: bytes


class Bus:
    """What other services would publish, and what lands in the DLQ."""

    def __init__(self, js: JetStreamContext) -> None:
        self.js = js

    async def created(self, text: str) -> CloudEvent:
        return await self._publish(TODO_CREATED, todo(text))

    async def updated(
        self, text: str, *, done: bool, after: CloudEvent | None = None
    ) -> CloudEvent:
        return await self._publish(TODO_UPDATED, todo(text, done=done), after=after)

    async def deleted(self, *, after: CloudEvent | None = None) -> CloudEvent:
        return await self._publish(TODO_DELETED, TodoDeleted(id=uuid.uuid4()), after=after)

    async def _publish(
        self, channel: Channel, data: msgspec.Struct, *, after: CloudEvent | None = None
    ) -> CloudEvent:
        """As svc-todo's outbox does: `after` is the todo's previous event."""
        event = CloudEvent.new(channel.event_type, "/tests", data)
        if after is not None:
            event = dataclasses.replace(event, extensions={PREDECESSOR_ID: after.id})
        await publish_event(self.js, channel.subject, event)
        return event

    async def dead_letters(self, consumer: str = "broadcaster") -> list[DeadLetter]:
        letters: list[DeadLetter] = []
        cursor = 1
        while True:
            try:
                raw = await self.js.get_msg(
                    DLQ.name, seq=cursor, subject=f"dlq.{consumer}", next=True
                )
            except NotFoundError:
                return letters
            assert raw.seq is not None
            letters.append(DeadLetter(raw.seq, dict(raw.headers or {}), raw.data or b""))
            cursor = raw.seq + 1


@pytest.fixture
async def bus(nats_server: NatsServer) -> AsyncIterator[Bus]:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    await declare_streams(client.jetstream(), STREAMS)
    yield Bus(client.jetstream())
    await client.close()


def todo(text: str, *, done: bool = False) -> Todo:
    now = datetime.now(UTC)
    return Todo(id=uuid.uuid4(), text=text, done=done, created_at=now, updated_at=now)
