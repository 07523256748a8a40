"""The pong counter: one atomic SQL statement per pong, so any number of replicas agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine
from piccolo.query.base import Query

from shared_runtime.database import DATABASE_UNAVAILABLE, AnyEngine, DatabaseGate, close_engine
from svc_pingpong.held_sqlite import HeldSqliteConnection
from svc_pingpong.models import MIGRATIONS, PONGS_COUNTER, CounterRow


class CounterUnavailable(Exception):
    """The database does not answer (yet); the reason is safe to show to the caller."""


class PongCounter:
    def __init__(self, engine: AnyEngine, *, pool_size: int, retry_max_seconds: float) -> None:
        self._held_sqlite = (
            HeldSqliteConnection(Path(engine.path)) if isinstance(engine, SQLiteEngine) else None
        )
        self._gate = DatabaseGate(
            engine,
            MIGRATIONS,
            pool_size=pool_size,
            max_backoff_seconds=retry_max_seconds,
            then=self._held_sqlite.open if self._held_sqlite is not None else None,
        )
        self._engine = engine
        self.readiness = self._gate.readiness

    async def prepare(self) -> None:
        """Runs in the background so the process serves `/healthz` (and a 503 `/readyz` saying
        why) while the database is unreachable, instead of crash-looping."""
        await self._gate.prepare()

    async def close(self) -> None:
        if self._held_sqlite is not None:
            await self._held_sqlite.close()
        await close_engine(self._engine)

    async def take(self) -> int:
        """The next number, from 0: increment and read back in one statement (no lost update)."""
        rows = await self._run(
            CounterRow.update({CounterRow.value: CounterRow.value + 1})
            .where(CounterRow.name == PONGS_COUNTER)
            .returning(CounterRow.value)
        )
        return int(rows[0]["value"]) - 1

    async def taken(self) -> int:
        rows = await self._run(
            CounterRow.select(CounterRow.value).where(CounterRow.name == PONGS_COUNTER)
        )
        return int(rows[0]["value"])

    async def _run(self, query: Query[Any, Any]) -> list[dict[str, Any]]:
        if not self._gate.is_prepared:
            raise CounterUnavailable(self._gate.not_ready_reason)
        try:
            if self._held_sqlite is not None:
                return await self._held_sqlite.fetch(query)
            rows: list[dict[str, Any]] = await query
        except DATABASE_UNAVAILABLE as exc:
            raise CounterUnavailable(f"database unavailable: {type(exc).__name__}: {exc}") from exc
        return rows
