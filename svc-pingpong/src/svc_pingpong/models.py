"""The counter table and its migrations; the same schema runs on PostgreSQL and SQLite."""

from __future__ import annotations

from piccolo.columns import BigInt, Varchar
from piccolo.table import Table

from shared_runtime.database import Migration

PONGS_COUNTER = "pongs"


class CounterRow(Table, tablename="pingpong_counter"):
    """One row per named counter; `value` is how many times it has been taken."""

    name = Varchar(length=50, primary_key=True)
    value = BigInt(default=0)


TABLES: tuple[type[Table], ...] = (CounterRow,)


async def _create_counter() -> None:
    await CounterRow.create_table(if_not_exists=True)
    await CounterRow.insert(CounterRow(name=PONGS_COUNTER, value=0))


MIGRATIONS = (Migration("pingpong/0001_counter", _create_counter),)
