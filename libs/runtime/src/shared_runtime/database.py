"""Piccolo engines for PostgreSQL or the zero-install SQLite file, and ordered schema migrations.

Tables are declared without an engine; `bind` attaches the one built from settings, so tests and
replicas choose their database explicitly instead of through a global `piccolo_conf`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from piccolo.columns import Timestamptz, Varchar
from piccolo.engine.base import Engine
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine, TransactionType
from piccolo.query.base import Query
from piccolo.querystring import QueryString
from piccolo.table import Table

if TYPE_CHECKING:
    import asyncpg

log = logging.getLogger(__name__)

AnyEngine = PostgresEngine | SQLiteEngine
CONNECT_TIMEOUT_SECONDS = 5
QUERY_TIMEOUT_SECONDS = 5.0


class SchemaMigration(Table, tablename="schema_migrations"):
    id = Varchar(length=200, primary_key=True)
    applied_at = Timestamptz()


@dataclass(frozen=True)
class Migration:
    """One schema step, identified as `<service>/<NNNN_name>` and applied exactly once."""

    id: str
    apply: Callable[[], Awaitable[Any]]


class _PostgresEngine(PostgresEngine):
    """Piccolo's engine, minus the version check that connects while the engine is built: that
    blocked start-up (up to asyncpg's connect timeout) before readiness could say anything.
    It also knows how far the server's clock is from ours, for `Deadline`."""

    clock_offset = timedelta(0)
    CLOCK_READING_MAX_ROUND_TRIP = timedelta(milliseconds=200)

    async def check_version(self) -> None:
        return None

    async def read_clock(self) -> None:
        """Measure the server's clock against ours (to half a round trip)."""
        sent = datetime.now(UTC)
        [row] = await self.run_ddl("SELECT clock_timestamp() AS now")
        received = datetime.now(UTC)
        if received - sent < self.CLOCK_READING_MAX_ROUND_TRIP:
            self.clock_offset = row["now"] - (sent + (received - sent) / 2)


def engine_for(database_url: str | None, data_dir: Path, sqlite_name: str) -> AnyEngine:
    if database_url:
        return _PostgresEngine(
            config={
                "dsn": database_url,
                "timeout": CONNECT_TIMEOUT_SECONDS,
                # A deadline on every statement, client side (a frozen or partitioned server)
                # and server side (a stuck query, a transaction left open); past it the request
                # answers 503 and its transaction is rolled back.
                "command_timeout": QUERY_TIMEOUT_SECONDS,
                "server_settings": {
                    "statement_timeout": str(int(QUERY_TIMEOUT_SECONDS * 1000)),
                    "idle_in_transaction_session_timeout": str(int(QUERY_TIMEOUT_SECONDS * 2000)),
                },
            }
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    return SQLiteEngine(path=str(data_dir / sqlite_name), timeout=30)


def is_postgres(engine: Engine[Any]) -> bool:
    return isinstance(engine, PostgresEngine)


def bind(tables: Iterable[type[Table]], engine: AnyEngine) -> None:
    for table in tables:
        table._meta.db = engine


@asynccontextmanager
async def write_transaction(engine: AnyEngine) -> AsyncIterator[None]:
    """A transaction that takes the write lock up front on SQLite, so writers queue, not fail.

    On PostgreSQL a transaction whose commit or rollback failed (its connection cut by a
    restart) is cleaned up here: Piccolo would leave it as the task's current transaction, so
    every later query of that task (the outbox relay runs in one) would use the dead connection,
    and its connection checked out of the pool for good."""
    if isinstance(engine, SQLiteEngine):
        async with engine.transaction(transaction_type=TransactionType.immediate):
            yield
        return
    transaction = engine.transaction()
    try:
        async with transaction:
            yield
    except BaseException:
        if engine.current_transaction.get() is transaction:
            engine.current_transaction.reset(transaction.context)
            transaction.connection.terminate()  # returns it to the pool, to be replaced
        raise


class Slot:
    """A named placeholder in a query given to `CompiledQuery`, filled in on every run."""

    def __init__(self, name: str) -> None:
        self.name = name


class Deadline(Slot):
    """Filled in with the last moment, on the database server's clock, at which a statement may
    still take effect: a statement guarded by `clock_timestamp() < deadline` that a frozen
    server runs only once the service has given up on it (and answered 503) changes nothing,
    as a transaction whose commit was never sent would. A second before the statement timeout,
    so that an answer sent in time also arrives in time."""

    MARGIN = timedelta(seconds=1)

    def __init__(self) -> None:
        super().__init__("deadline")

    @staticmethod
    def for_engine(engine: AnyEngine) -> datetime:
        offset = getattr(engine, "clock_offset", timedelta(0))
        return (
            datetime.now(UTC) + offset + timedelta(seconds=QUERY_TIMEOUT_SECONDS) - Deadline.MARGIN
        )


class CompiledQuery:
    """A Piccolo query built and compiled to SQL once, then run with fresh values for its slots.

    The hottest reads skip Piccolo's query builder and response conversion per request, and on
    PostgreSQL asyncpg reuses the statement it prepared (it caches them by SQL text). Runs inside
    the current transaction when there is one, like any Piccolo query. Queries can be composed
    with `QueryString` (e.g. two inserts as one statement); the placeholders are numbered here.
    """

    def __init__(self, engine: AnyEngine, query: Query[Any, Any] | QueryString) -> None:
        self._engine = engine
        statement = query if isinstance(query, QueryString) else query.querystrings[0]
        self._sql, self._args = statement.compile_string(engine_type=engine.engine_type)

    def bind(self, **values: Any) -> tuple[str, list[Any]]:
        """The SQL and its arguments with the slots filled in, for a connection of one's own."""
        return self._sql, [self._value(arg, values) for arg in self._args]

    def _value(self, arg: Any, values: dict[str, Any]) -> Any:
        if isinstance(arg, Deadline):
            return Deadline.for_engine(self._engine)
        return values[arg.name] if isinstance(arg, Slot) else arg

    async def rows(self, **values: Any) -> Sequence[Mapping[str, Any]]:
        """The result rows: asyncpg records on PostgreSQL, dicts on SQLite, typed alike."""
        _, args = self.bind(**values)
        engine = self._engine
        transaction = engine.current_transaction.get()
        if isinstance(engine, PostgresEngine):
            if transaction is not None:
                return await transaction.connection.fetch(self._sql, *args)  # type: ignore[no-any-return]
            if engine.pool is not None:
                return await _fetch_from_pool(engine.pool, self._sql, args)
            return await engine._run_in_new_connection(self._sql, args)  # type: ignore[no-any-return]
        if transaction is not None:
            return await engine._run_in_existing_connection(transaction.connection, self._sql, args)  # type: ignore[no-any-return]
        return await engine._run_in_new_connection(self._sql, args)  # type: ignore[no-any-return]


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Returning a connection to the pool runs no reset statement (asyncpg's default costs a round
    trip per release: unlock all advisory locks, close cursors, unlisten, reset settings): the
    services leave no session state behind (their only lock is transaction-scoped; no cursors,
    LISTEN or SET), and an open transaction is still rolled back by asyncpg itself."""


async def _fetch_from_pool(
    pool: asyncpg.Pool, sql: str, args: Sequence[Any]
) -> Sequence[Mapping[str, Any]]:
    """A statement on a pooled connection; one that timed out or lost its server is cut, not
    returned: asyncpg would first wait for its cancellation, which a frozen server never
    confirms, and the answer (a 503) would come twice the deadline late."""
    from asyncpg import PostgresError  # loaded with the pool: costs a dictionary lookup

    connection = await pool.acquire()
    try:
        return await connection.fetch(sql, *args)  # type: ignore[no-any-return]
    except BaseException as exc:
        if not isinstance(exc, PostgresError):  # the server answered: connection fine
            connection.terminate()
        raise
    finally:
        await pool.release(connection)


async def open_engine(engine: AnyEngine, *, pool_size: int = 10) -> None:
    if isinstance(engine, PostgresEngine):
        await engine.start_connection_pool(min_size=1, max_size=pool_size, reset=_keep_session)
        if isinstance(engine, _PostgresEngine):
            await engine.read_clock()
    else:
        await engine.run_ddl("PRAGMA journal_mode=WAL")


async def close_engine(engine: AnyEngine, timeout: float = 5.0) -> None:
    """Close the pool gracefully, or cut it after `timeout`: a connection broken in the middle of
    an operation (a database restart) can stay checked out for good, and a graceful close would
    wait for it forever."""
    if isinstance(engine, PostgresEngine) and engine.pool is not None:
        try:
            await asyncio.wait_for(engine.pool.close(), timeout)
        except TimeoutError:
            log.warning("database pool did not close in time; connections cut")
            engine.pool.terminate()
        engine.pool = None


async def ping(engine: AnyEngine, timeout: float = 2.0) -> str | None:
    """None when the database answers, else the reason (for `/readyz`)."""
    try:
        probe = (
            engine.read_clock()
            if isinstance(engine, _PostgresEngine)
            else engine.run_ddl("SELECT 1")
        )
        await asyncio.wait_for(probe, timeout)
    except Exception as exc:  # noqa: BLE001 - any failure means not ready; say which
        log.warning("database check failed", extra={"error": f"{type(exc).__name__}: {exc}"})
        return unavailable(exc)
    return None


def unavailable(exc: BaseException) -> str:
    """The reason `/readyz` shows: the kind of failure, never the address (the log has it)."""
    return f"database unavailable ({type(exc).__name__})"


async def migrate(engine: AnyEngine, migrations: Iterable[Migration]) -> list[str]:
    """Apply pending migrations in order, in one transaction, serialised across replicas."""
    bind([SchemaMigration], engine)
    applied_now: list[str] = []
    async with write_transaction(engine):
        if isinstance(engine, PostgresEngine):
            await engine.run_ddl("SELECT pg_advisory_xact_lock(727274)")
        # Under the lock: two replicas creating the table at once would collide in the catalog.
        await SchemaMigration.create_table(if_not_exists=True)
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


def _postgres_unavailable() -> tuple[type[Exception], ...]:
    """asyncpg's errors meaning the server is not there; none in a process on SQLite that
    marked asyncpg absent at its edge (`skip_postgres_driver`), so it never loads it."""
    try:
        import asyncpg
    except ImportError:
        return ()
    return (
        asyncpg.PostgresConnectionError,
        asyncpg.OperatorInterventionError,  # shutting down, restarting, statement timeout
        asyncpg.InterfaceError,
        asyncpg.InternalClientError,  # a connection cut in the middle of an operation
        asyncpg.InvalidAuthorizationSpecificationError,
        asyncpg.InvalidPasswordError,
        asyncpg.InvalidCatalogNameError,
    )


DATABASE_UNAVAILABLE: tuple[type[Exception], ...] = (
    OSError,  # TimeoutError too: a statement past its deadline
    *_postgres_unavailable(),
    sqlite3.OperationalError,
)
"""Errors meaning "the database is not there right now" (answered 503), not "the query is wrong"."""


class DatabaseGate:
    """Opens the engine and migrates in the background, retrying until the database answers.

    The service starts (and is live) without its database; readiness says why it is not ready,
    so an orchestrator holds traffic back instead of restarting the process in a loop.
    `then` runs after migrating, inside the retry (e.g. to open a held connection).
    """

    def __init__(
        self,
        engine: AnyEngine,
        migrations: Iterable[Migration],
        *,
        pool_size: int = 10,
        max_backoff_seconds: float = 5.0,
        then: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._engine = engine
        self._migrations = tuple(migrations)
        self._pool_size = pool_size
        self._max_backoff = max_backoff_seconds
        self._then = then
        self._ready = asyncio.Event()
        self.not_ready_reason = "database not prepared yet"

    @property
    def is_prepared(self) -> bool:
        return self._ready.is_set()

    async def prepare(self) -> None:
        attempt = 0
        while not self._ready.is_set():
            try:
                await open_engine(self._engine, pool_size=self._pool_size)
                await migrate(self._engine, self._migrations)
                if self._then is not None:
                    await self._then()
            except Exception as exc:  # noqa: BLE001 - retried; readiness reports it
                attempt += 1
                self.not_ready_reason = unavailable(exc)
                log.warning(
                    "database not available yet", extra={"error": f"{type(exc).__name__}: {exc}"}
                )
                await close_engine(self._engine)
                await asyncio.sleep(min(self._max_backoff, 0.2 * 2**attempt))
            else:
                self._ready.set()

    async def prepared(self) -> None:
        await self._ready.wait()

    async def readiness(self) -> str | None:
        if not self._ready.is_set():
            return self.not_ready_reason
        return await ping(self._engine)
