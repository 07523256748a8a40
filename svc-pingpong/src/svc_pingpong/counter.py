"""The pong counter: one atomic SQL statement per pong, so any number of replicas agree."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from piccolo.engine.sqlite import SQLiteEngine

from shared_runtime.database import (
    DATABASE_UNAVAILABLE,
    AnyEngine,
    CompiledQuery,
    DatabaseGate,
    close_engine,
    unavailable,
)
from svc_pingpong.held_sqlite import HeldSqliteConnection
from svc_pingpong.models import MIGRATIONS, PONGS_COUNTER, CounterRow

log = logging.getLogger(__name__)


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
        # Built by Piccolo once, not per pong.
        self._take = CompiledQuery(
            engine,
            CounterRow.update({CounterRow.value: CounterRow.value + 1})
            .where(CounterRow.name == PONGS_COUNTER)
            .returning(CounterRow.value),
        )
        self._taken = CompiledQuery(
            engine, CounterRow.select(CounterRow.value).where(CounterRow.name == PONGS_COUNTER)
        )

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
        rows = await self._run(self._take)
        return int(rows[0]["value"]) - 1

    async def taken(self) -> int:
        rows = await self._run(self._taken)
        return int(rows[0]["value"])

    async def _run(self, query: CompiledQuery) -> Sequence[Mapping[str, Any]]:
        if not self._gate.is_prepared:
            raise CounterUnavailable(self._gate.not_ready_reason)
        try:
            if self._held_sqlite is not None:
                return await self._held_sqlite.fetch(query)
            rows = await query.rows()
        except DATABASE_UNAVAILABLE as exc:
            log.warning("counter unavailable", extra={"error": f"{type(exc).__name__}: {exc}"})
            raise CounterUnavailable(unavailable(exc)) from exc
        return rows
