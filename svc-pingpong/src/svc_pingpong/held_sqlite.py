"""One SQLite connection held for the life of the process, for the counter's hot statements.

Piccolo's SQLite engine opens a connection (a thread and a file open) per query; at pong rates
that costs five times the statement itself. The statements are still built by Piccolo, once.

Statements that arrive while the connection's thread is busy run together next, in one
transaction: each is still its own statement (one atomic increment per pong), but the batch
costs one commit (SQLite's `fdatasync`), one hand-off to the thread and one back, and the write
lock is taken once. One statement per commit made the commit the bottleneck, and the thread
waited for the interpreter lock, held by the event loop, between statements with the lock held.
"""

from __future__ import annotations

import asyncio
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

from shared_runtime.database import CompiledQuery

Statement = tuple[str, list[Any]]
Rows = list[dict[str, Any]]


class HeldSqliteConnection:
    def __init__(self, path: Path, *, busy_timeout_seconds: float = 30.0) -> None:
        self._path = path
        self._busy_timeout_seconds = busy_timeout_seconds
        # One thread owns the connection: SQLite objects stay on the thread that made them.
        self._thread: ThreadPoolExecutor | None = None
        self._connection: sqlite3.Connection | None = None
        self._waiting: list[tuple[Statement, asyncio.Future[Rows]]] = []
        self._batch_running = False

    async def open(self) -> None:
        thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="held-sqlite")
        connect = partial(
            sqlite3.connect, self._path, timeout=self._busy_timeout_seconds, isolation_level=None
        )
        try:
            self._connection = await asyncio.get_running_loop().run_in_executor(thread, connect)
        except BaseException:
            thread.shutdown(wait=False)
            raise
        self._thread = thread

    async def fetch(self, query: CompiledQuery) -> Rows:
        """The statement's rows, once the transaction it ran in has committed."""
        if self._connection is None:
            raise sqlite3.OperationalError("connection not open")
        answer: asyncio.Future[Rows] = asyncio.get_running_loop().create_future()
        self._waiting.append((query.bind(), answer))
        if not self._batch_running:
            self._start_batch()
        return await answer

    def _start_batch(self) -> None:
        # A caller that gave up before its batch started takes no number.
        batch = [(statement, answer) for statement, answer in self._waiting if not answer.done()]
        self._waiting = []
        if not batch:
            return
        if self._connection is None or self._thread is None:
            for _, answer in batch:
                answer.set_exception(sqlite3.OperationalError("connection closed"))
            return
        self._batch_running = True
        running = asyncio.get_running_loop().run_in_executor(
            self._thread, _run_batch, self._connection, [statement for statement, _ in batch]
        )
        running.add_done_callback(partial(self._finish_batch, [answer for _, answer in batch]))

    def _finish_batch(
        self, answers: list[asyncio.Future[Rows]], running: asyncio.Future[list[Rows]]
    ) -> None:
        self._batch_running = False
        error = running.exception() if not running.cancelled() else asyncio.CancelledError()
        results = running.result() if error is None else [[] for _ in answers]
        for answer, rows in zip(answers, results, strict=True):
            if answer.done():
                continue
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(rows)
        if self._waiting:
            self._start_batch()

    async def close(self) -> None:
        """Closes after the batch running now; statements still waiting fail."""
        connection, thread = self._connection, self._thread
        self._connection, self._thread = None, None
        if connection is None or thread is None:
            return
        await asyncio.get_running_loop().run_in_executor(thread, connection.close)
        thread.shutdown(wait=False)


def _run_batch(connection: sqlite3.Connection, statements: list[Statement]) -> list[Rows]:
    """On the connection's thread: all statements in one transaction, or none of them."""
    if len(statements) == 1:
        return [_rows(connection, *statements[0])]  # autocommit: its own transaction
    connection.execute("BEGIN IMMEDIATE")
    try:
        results = [_rows(connection, sql, args) for sql, args in statements]
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        raise
    return results


def _rows(connection: sqlite3.Connection, sql: str, args: list[Any]) -> Rows:
    cursor = connection.execute(sql, args)
    names = [column[0] for column in cursor.description or ()]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
