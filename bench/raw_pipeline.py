"""The raw baselines the event-pipeline benchmarks compare against: the least an efficient,
at-least-once pipeline does, with none of the project's guarantees (no outbox, no ledger, no
retries, no dead letters, no metrics, no traces).

- `consume`: a JetStream pull consumer with pipelined pulls, aiohttp POSTs and acks.
- `app`: an ASGI `POST /api/todos` that inserts the todo with asyncpg and publishes its event
  with nats-py before answering.

Run: python bench/raw_pipeline.py consume NATS_URL SINK_URL DURABLE CONCURRENCY
     uvicorn --app-dir bench raw_pipeline:app   (DATABASE_URL, NATS_URL in the environment)
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import asyncpg
import nats
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

STREAM = "TODOS"


async def consume(nats_url: str, sink_url: str, durable: str, concurrency: int) -> None:
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await js.add_consumer(
        STREAM,
        ConsumerConfig(
            durable_name=durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            max_ack_pending=10_000,
        ),
    )
    inbox = nc.new_inbox()
    requested = busy = 0
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))

    async def pull() -> None:
        nonlocal requested
        room = concurrency - busy - requested
        if room >= concurrency // 2 or (requested == 0 and room > 0):
            requested += room
            request = {"batch": room, "expires": 30_000_000_000}
            await nc.publish(
                f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{durable}", json.dumps(request).encode(), inbox
            )

    async def deliver(msg: Msg) -> None:
        nonlocal busy
        headers = msg.headers or {}
        text = json.loads(msg.data).get("text", "")
        async with session.post(
            sink_url,
            json={"user": "bot", "message": f"A todo was created: {text}"},
            headers={"Idempotency-Key": headers.get("ce-id", "")},
        ) as response:
            await response.read()
        await msg.ack()
        busy -= 1
        await pull()

    async def received(msg: Msg) -> None:
        nonlocal requested, busy
        if msg.headers and "Status" in msg.headers:
            requested = 0
            await pull()
            return
        requested -= 1
        busy += 1
        asyncio.create_task(deliver(msg))  # noqa: RUF006 - runs until the process is stopped

    await nc.subscribe(inbox, cb=received)
    await pull()
    await asyncio.Event().wait()


class App:
    """`POST /api/todos` → 201 with the todo, its row inserted and its event published."""

    def __init__(self) -> None:
        self.pool: asyncpg.Pool | None = None
        self.js: Any = None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["method"] == "GET":  # any GET is the health check
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-length", b"2")],
                }
            )
            await send({"type": "http.response.body", "body": b"ok"})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        text = json.loads(body)["text"].strip()
        now = datetime.now(UTC)
        todo = {
            "id": str(uuid.uuid4()),
            "text": text,
            "done": False,
            "created_at": now.isoformat(),
            "updated_at": now.isoformat(),
        }
        assert self.pool is not None
        async with self.pool.acquire() as connection, connection.transaction():
            await connection.execute(
                "INSERT INTO raw_todo (id, text, done, created_at, updated_at) "
                "VALUES ($1, $2, false, $3, $3)",
                uuid.UUID(todo["id"]),
                text,
                now,
            )
        payload = json.dumps(todo).encode()
        event_id = str(uuid.uuid4())
        await self.js.publish(
            "todos.events.created",
            payload,
            headers={
                "ce-specversion": "1.0",
                "ce-id": event_id,
                "ce-type": "todo.created.v1",
                "ce-source": "raw",
                "ce-time": now.isoformat(),
                "Content-Type": "application/json",
                "Nats-Msg-Id": event_id,
            },
        )
        await send(
            {
                "type": "http.response.start",
                "status": 201,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})

    async def _lifespan(self, receive: Any, send: Any) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], max_size=10)
                await self.pool.execute(
                    "CREATE TABLE IF NOT EXISTS raw_todo (id uuid PRIMARY KEY, text varchar(140),"
                    " done boolean, created_at timestamptz, updated_at timestamptz)"
                )
                self.js = (await nats.connect(os.environ["NATS_URL"])).jetstream()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


app = App()

if __name__ == "__main__":
    _, command, nats_url, sink_url, durable, concurrency = sys.argv
    assert command == "consume"
    asyncio.run(consume(nats_url, sink_url, durable, int(concurrency)))
