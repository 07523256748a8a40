"""The held SQLite connection: statements that arrive together commit together, or not at all."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared_runtime.database import CompiledQuery, bind, engine_for, migrate
from svc_pingpong.held_sqlite import HeldSqliteConnection
from svc_pingpong.models import MIGRATIONS, PONGS_COUNTER, TABLES, CounterRow


@pytest.fixture
async def counter_file(tmp_path: Path) -> CompiledQuery:
    """A migrated counter database, and its increment statement as the service builds it."""
    engine = engine_for(None, tmp_path, "pingpong.sqlite")
    bind(TABLES, engine)
    await engine.run_ddl("PRAGMA journal_mode=WAL")
    await migrate(engine, MIGRATIONS)
    return CompiledQuery(
        engine,
        CounterRow.update({CounterRow.value: CounterRow.value + 1})
        .where(CounterRow.name == PONGS_COUNTER)
        .returning(CounterRow.value),
    )


@pytest.fixture
async def held(tmp_path: Path, counter_file: CompiledQuery) -> AsyncIterator[HeldSqliteConnection]:
    connection = HeldSqliteConnection(tmp_path / "pingpong.sqlite", busy_timeout_seconds=0.2)
    await connection.open()
    yield connection
    await connection.close()


async def take_many(
    held: HeldSqliteConnection, increment: CompiledQuery, n: int
) -> list[int | BaseException]:
    """`n` increments sent at once: the value each one left, or its error."""
    statements = (held.fetch(increment) for _ in range(n))
    results = await asyncio.gather(*statements, return_exceptions=True)
    return [r if isinstance(r, BaseException) else int(r[0]["value"]) for r in results]


async def test_concurrent_statements_each_take_their_own_number(
    held: HeldSqliteConnection, counter_file: CompiledQuery
) -> None:
    first = await take_many(held, counter_file, 300)
    second = await take_many(held, counter_file, 300)

    assert sorted(first + second) == list(range(1, 601))


async def test_statements_blocked_by_another_writer_all_fail_and_take_no_number(
    tmp_path: Path, held: HeldSqliteConnection, counter_file: CompiledQuery
) -> None:
    assert await take_many(held, counter_file, 1) == [1]
    other = sqlite3.connect(tmp_path / "pingpong.sqlite", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another replica holding the write lock too long
        blocked = await take_many(held, counter_file, 50)
        other.execute("ROLLBACK")
    finally:
        other.close()

    assert all(isinstance(x, sqlite3.OperationalError) for x in blocked)
    assert sorted(await take_many(held, counter_file, 50)) == list(range(2, 52))


async def test_statements_after_close_fail_as_unavailable(
    held: HeldSqliteConnection, counter_file: CompiledQuery
) -> None:
    await held.close()

    with pytest.raises(sqlite3.OperationalError):
        await held.fetch(counter_file)
