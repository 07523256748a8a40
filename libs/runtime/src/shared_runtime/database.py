"""Piccolo engines for PostgreSQL or the zero-install SQLite file, and ordered schema migrations.

Tables are declared without an engine; `bind` attaches the one built from settings, so tests and
replicas choose their database explicitly instead of through a global `piccolo_conf`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    if isinstance(engine, PostgresEngine):
        await engine.close_connection_pool()


async def ping(engine: AnyEngine, timeout: float = 2.0) -> str | None:
    """None when the database answers, else the reason (for `/readyz`)."""
    try:
        await asyncio.wait_for(engine.run_ddl("SELECT 1"), timeout)
    except Exception as exc:
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
