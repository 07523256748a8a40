"""Tables and their migrations; the same schema runs on PostgreSQL and SQLite."""

from __future__ import annotations

from piccolo.columns import (
    UUID,
    BigSerial,
    Boolean,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

from shared_runtime.database import Migration


class TodoRow(Table, tablename="todo"):
    id = UUID(primary_key=True)
    text = Varchar(length=140)
    done = Boolean(default=False)
    created_at = Timestamptz(index=True)
    updated_at = Timestamptz()


class OutboxRow(Table, tablename="todo_outbox"):
    """An event written in the same transaction as the change it describes."""

    seq = BigSerial(primary_key=True)
    event_id = Varchar(length=36, unique=True)
    subject = Varchar(length=200)
    event_type = Varchar(length=100)
    aggregate_id = Varchar(length=36, index=True)
    data = Text()
    traceparent = Varchar(length=55, null=True, default=None)
    created_at = Timestamptz()
    published_at = Timestamptz(null=True, default=None, index=True)


class IdempotencyRow(Table, tablename="todo_idempotency"):
    """The todo a key first created, returned verbatim when the same key comes again."""

    key = Varchar(length=300, primary_key=True)
    todo_id = UUID()
    response = Text()
    created_at = Timestamptz(index=True)


TABLES: tuple[type[Table], ...] = (TodoRow, OutboxRow, IdempotencyRow)


async def _create_tables() -> None:
    for table in TABLES:
        await table.create_table(if_not_exists=True)
    await OutboxRow.create_index(
        [OutboxRow.aggregate_id, OutboxRow.seq], method=IndexMethod.btree, if_not_exists=True
    )


async def _index_idempotency_age() -> None:
    """Housekeeping deletes keys by age; databases made before this column had an index."""
    await IdempotencyRow.create_index(["created_at"], if_not_exists=True)


MIGRATIONS = (
    Migration("todo/0001_initial", _create_tables),
    Migration("todo/0002_idempotency_age_index", _index_idempotency_age),
)
