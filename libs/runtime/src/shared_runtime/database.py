"""Piccolo engines for PostgreSQL or the zero-install SQLite file, and ordered schema migrations.

Tables are declared without an engine; `bind` attaches the one built from settings, so tests and
replicas choose their database explicitly instead of through a global `piccolo_conf`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
from piccolo.columns import Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.table import Table

log = logging.getLogger(__name__)

AnyEngine = PostgresEngine | SQLiteEngine


class SchemaMigration(Table, tablename="schema_migrations"):
    id = Varchar(length=200, primary_key=True)
    applied_at = Timestamptz()


@dataclass(frozen=True)
class Migration:
    """One schema step, identified as `<service>/<NNNN_name>` and applied exactly once."""

    id: str
    apply: Callable[[], Awaitable[Any]]


def engine_for(database_url: str | None, data_dir: Path, sqlite_name: str) -> AnyEngine:
    if database_url:
        return PostgresEngine(config={"dsn": database_url})
    data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteEngine(path=str(data_dir / sqlite_name), timeout=30)


def is_postgres(engine: Engine[Any]) -> bool:
    return isinstance(engine, PostgresEngine)


def bind(tables: Iterable[type[Table]], engine: AnyEngine) -> None:
    for table in tables:
        table._meta.db = engine


def write_transaction(engine: AnyEngine) -> Any:
    """A transaction that takes the write lock up front on SQLite, so writers queue, not fail."""
    if isinstance(engine, SQLiteEngine):
        return engine.transaction(transaction_type=TransactionType.immediate)
    return engine.transaction()


async def open_engine(engine: AnyEngine, *, pool_size: int = 10) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=pool_size)
    else:
        await engine.run_ddl("PRAGMA journal_mode=WAL")


async def close_engine(engine: AnyEngine) -> None:
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        await engine.close_connection_pool()


async def ping(engine: AnyEngine, timeout: float = 2.0) -> str | None:
    """None when the database answers, else the reason (for `/readyz`)."""
    try:
        await asyncio.wait_for(engine.run_ddl("SELECT 1"), timeout)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        return f"database unavailable: {type(exc).__name__}: {exc}"[:300]
    return None


async def migrate(engine: AnyEngine, migrations: Iterable[Migration]) -> list[str]:
    """Apply pending migrations in order, in one transaction, serialised across replicas."""
    bind([SchemaMigration], engine)
    await SchemaMigration.create_table(if_not_exists=True)
    applied_now: list[str] = []
    async with write_transaction(engine):
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl("SELECT pg_advisory_xact_lock(727274)")
        done = set(await SchemaMigration.select(SchemaMigration.id).output(as_list=True))
        for migration in migrations:
            if migration.id in done:
                continue
            await migration.apply()
            await SchemaMigration.insert(
                SchemaMigration(id=migration.id, applied_at=datetime.now(UTC))
            )
            applied_now.append(migration.id)
    if applied_now:
        log.info("schema migrated", extra={"migrations": applied_now})
    return applied_now


DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InvalidAuthorizationSpecificationError,
    asyncpg.InvalidPasswordError,
    asyncpg.InvalidCatalogNameError,
    sqlite3.OperationalError,
)
"""Errors meaning "the database is not there right now" (answered 503), not "the query is wrong"."""


class DatabaseGate:
    """Opens the engine and migrates in the background, retrying until the database answers.

    The service starts (and is live) without its database; readiness says why it is not ready,
    so an orchestrator holds traffic back instead of restarting the process in a loop.
    """

    def __init__(self, engine: AnyEngine, migrations: Iterable[Migration]) -> None:
        self._engine = engine
        self._migrations = tuple(migrations)
        self._ready = asyncio.Event()
        self._last_error = "database not prepared yet"

    @property
    def is_prepared(self) -> bool:
        return self._ready.is_set()

    async def prepare(self, max_backoff: float = 5.0) -> None:
        attempt = 0
        while not self._ready.is_set():
            try:
                await open_engine(self._engine)
                await migrate(self._engine, self._migrations)
            except Exception as exc:  # noqa: BLE001 - retried; readiness reports it
                attempt += 1
                self._last_error = f"database unavailable: {type(exc).__name__}: {exc}"[:300]
                log.warning("database not available yet", extra={"error": self._last_error})
                await close_engine(self._engine)
                await asyncio.sleep(min(max_backoff, 0.2 * 2**attempt))
            else:
                self._ready.set()

    async def prepared(self) -> None:
        await self._ready.wait()

    async def readiness(self) -> str | None:
        if not self._ready.is_set():
            return self._last_error
        return await ping(self._engine)
