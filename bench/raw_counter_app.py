"""Baseline for the pingpong benchmark: a bare ASGI app doing the same atomic increment.

No framework, no ORM, no middleware: one driver call per request (an asyncpg pool on
PostgreSQL, one long-lived aiosqlite connection on SQLite). Run with `uvicorn raw_counter_app:app`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

INCREMENT = "UPDATE raw_counter SET value = value + 1 WHERE name = 'pongs' RETURNING value"
SCHEMA = "CREATE TABLE IF NOT EXISTS raw_counter (name VARCHAR(50) PRIMARY KEY, value BIGINT)"
SEED = "INSERT INTO raw_counter (name, value) VALUES ('pongs', 0) ON CONFLICT DO NOTHING"


class Counter:
    async def open(self) -> None:
        url = os.environ.get("DATABASE_URL")
        if url:
            import asyncpg

            self.pool = await asyncpg.create_pool(url, min_size=1, max_size=10)
            await self.pool.execute(SCHEMA)
            await self.pool.execute(SEED)
            self.increment = self._increment_postgres
        else:
            import aiosqlite

            data_dir = Path(os.environ.get("DATA_DIR", ".data"))
            data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, at startup)
            self.sqlite = await aiosqlite.connect(
                data_dir / "raw_counter.sqlite", timeout=30, isolation_level=None
            )
            await self.sqlite.execute("PRAGMA journal_mode=WAL")
            await self.sqlite.execute(SCHEMA)
            await self.sqlite.execute(SEED)
            self.increment = self._increment_sqlite

    async def _increment_postgres(self) -> int:
        return int(await self.pool.fetchval(INCREMENT)) - 1

    async def _increment_sqlite(self) -> int:
        rows = await self.sqlite.execute_fetchall(INCREMENT)
        return int(next(iter(rows))[0]) - 1


counter = Counter()


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await receive()  # lifespan.startup
        await counter.open()
        await send({"type": "lifespan.startup.complete"})
        await receive()  # lifespan.shutdown
        await send({"type": "lifespan.shutdown.complete"})
        return
    status, body = 404, b"not found"
    if scope["path"] == "/pingpong":
        status, body = 200, f"pong {await counter.increment()}".encode()
    elif scope["path"] == "/readyz":
        status, body = 200, b"ready"
    headers = [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
