"""Throughput baseline for svc-todo: a bare ASGI app doing the same database work with asyncpg.

POST inserts the todo and its outbox row in one transaction; GET lists the first page of todos,
newest first (`?limit=`, default 50), as svc-todo's first page does.
No framework, validation, metrics or tracing: the floor the real service is compared with.
"""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

import asyncpg
import uvicorn

pool: asyncpg.Pool | None = None

INSERT_TODO = (
    "INSERT INTO todo (id, text, done, created_at, updated_at) VALUES ($1, $2, false, $3, $3)"
)
# Written as already published: svc-todo's relay, running beside it in the benchmark, leaves the
# baseline's rows alone.
INSERT_OUTBOX = (
    "INSERT INTO todo_outbox"
    " (event_id, subject, event_type, aggregate_id, data, created_at, published_at)"
    " VALUES ($1, 'todos.events.created', 'todo.created.v1', $2, $3, $4, $4)"
)

FIRST_PAGE = (
    "SELECT id, text, done, created_at, updated_at FROM todo"
    " ORDER BY created_at DESC, id DESC LIMIT $1"
)


async def respond(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global pool
    if scope["type"] == "lifespan":
        await receive()
        pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=10)
        await send({"type": "lifespan.startup.complete"})
        await receive()
        await pool.close()
        await send({"type": "lifespan.shutdown.complete"})
        return
    assert pool is not None
    if scope["method"] == "POST":
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        text = json.loads(body)["text"].strip()
        todo_id, now = uuid.uuid4(), datetime.now(UTC)
        todo = {
            "id": str(todo_id),
            "text": text,
            "done": False,
            "created_at": now.isoformat(),
            "updated_at": now.isoformat(),
        }
        async with pool.acquire() as connection, connection.transaction():
            await connection.execute(INSERT_TODO, todo_id, text, now)
            await connection.execute(
                INSERT_OUTBOX, str(uuid.uuid4()), str(todo_id), json.dumps(todo), now
            )
        await respond(send, 201, json.dumps(todo).encode())
        return
    limit = int(parse_qs(scope["query_string"].decode()).get("limit", ["50"])[0])
    rows = await pool.fetch(FIRST_PAGE, limit)
    todos = [
        {
            **dict(row),
            "id": str(row["id"]),
            "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat(),
        }
        for row in rows
    ]
    await respond(send, 200, json.dumps(todos).encode())


if __name__ == "__main__":
    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(os.environ["PORT"]),
        log_config=None,
        access_log=False,
        lifespan="on",
    )
