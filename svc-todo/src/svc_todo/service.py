"""Todo use cases, shared by every trigger (REST, HTML fragments, NATS commands).

Each change and the event describing it are written in one transaction (the outbox); the relay
publishes the event after commit, so an accepted change is never lost and never half-announced.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractContextManager, asynccontextmanager, nullcontext
from datetime import UTC, datetime
from typing import Any, NamedTuple

import msgspec
from opentelemetry import trace
from piccolo.querystring import QueryString

from shared_contracts.catalog import TODO_CREATED, TODO_DELETED, TODO_UPDATED, Channel
from shared_contracts.todos import Todo, TodoDeleted, TodoPrevious, TodoUpdated, validate_todo_text
from shared_runtime.database import (
    AnyEngine,
    CompiledQuery,
    Deadline,
    Slot,
    is_postgres,
    write_transaction,
)
from shared_runtime.telemetry import current_traceparent, is_recording
from svc_todo.listing import Position, TodoPage, TodoView
from svc_todo.metrics import TODOS_CREATED
from svc_todo.models import IdempotencyRow, OutboxRow, TodoRow

log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)
_UNTRACED = nullcontext()


class Created(NamedTuple):
    """A create's outcome: the todo, and its JSON as the REST API answers it, its event carries
    it and its idempotency key records it: encoded once."""

    todo: Todo
    json: str


class TodoNotFound(LookupError):
    pass


class IdempotencyKeyReused(ValueError):
    """The key already created a todo from a different text (as Stripe and the IETF
    idempotency-key draft answer it: 422, not the first todo)."""


def _to_todo(row: dict[str, Any]) -> Todo:
    """Rows come typed from the database, so there is nothing to validate again."""
    return Todo(
        id=row["id"],
        text=row["text"],
        done=row["done"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


def _json(data: msgspec.Struct) -> str:
    """An event's or answer's JSON, as the outbox and idempotency tables hold it (text)."""
    return msgspec.json.encode(data).decode()


def _is_unique_violation(exc: Exception) -> bool:
    return type(exc).__name__ in {"UniqueViolationError", "IntegrityError"}


_LIST_COLUMNS = (TodoRow.id, TodoRow.text, TodoRow.done, TodoRow.created_at, TodoRow.updated_at)


class _PageQueries:
    """The list's two statements (first page, page after a cursor) for each page size, built by
    Piccolo once and reused: a list request only binds values and runs them."""

    def __init__(self, engine: AnyEngine) -> None:
        self._engine = engine
        self._by_limit: dict[int, tuple[CompiledQuery, CompiledQuery]] = {}

    def for_limit(self, limit: int) -> tuple[CompiledQuery, CompiledQuery]:
        if (queries := self._by_limit.get(limit)) is None:
            newest_first = TodoRow.select(*_LIST_COLUMNS).order_by(
                TodoRow.created_at, TodoRow.id, ascending=False
            )
            after, after_id = Slot("created_at"), Slot("id")
            queries = self._by_limit[limit] = (
                CompiledQuery(self._engine, newest_first.limit(limit)),
                CompiledQuery(
                    self._engine,
                    newest_first.where(
                        (TodoRow.created_at < after)
                        | ((TodoRow.created_at == after) & (TodoRow.id < after_id))
                    ).limit(limit),
                ),
            )
        return queries


_CREATE_BY_DEADLINE = """
WITH todo AS (
    INSERT INTO todo (id, text, done, created_at, updated_at)
    SELECT {}::uuid, {}::varchar, false, {}::timestamptz, {}::timestamptz
    WHERE clock_timestamp() < {}::timestamptz
    RETURNING id
), event AS (
    INSERT INTO todo_outbox
        (event_id, subject, event_type, aggregate_id, data, traceparent, created_at)
    SELECT {}::varchar, {}::varchar, {}::varchar, {}::varchar, {}::text, {}::varchar,
        {}::timestamptz
    FROM todo
){}
SELECT count(*) AS created FROM todo
"""
_AND_ITS_KEY = """, idempotency AS (
    INSERT INTO todo_idempotency (key, todo_id, response, created_at)
    SELECT {}::varchar, id, {}::text, {}::timestamptz FROM todo
)"""


class _Inserts:
    """The inserts a new todo makes (the todo, its outbox event, the idempotency key it came
    with), built once: a write only binds values and runs them.

    On PostgreSQL they go as one statement, atomic on its own: one round trip where a
    transaction takes four or five. It is guarded by a `Deadline`, so that, as with a
    transaction whose commit was never sent, a statement a frozen server runs only after the
    request was answered 503 creates nothing."""

    def __init__(self, engine: AnyEngine) -> None:
        at = Slot("at")
        event_slots = [
            Slot(name)
            for name in (
                "event_id",
                "subject",
                "event_type",
                "aggregate_id",
                "data",
                "traceparent",
                "created_at",
            )
        ]
        self.todo = CompiledQuery(
            engine,
            TodoRow.insert(
                TodoRow(id=Slot("id"), text=Slot("text"), done=False, created_at=at, updated_at=at)
            ),
        )
        self.event = CompiledQuery(
            engine,
            OutboxRow.insert(
                OutboxRow({getattr(OutboxRow, slot.name): slot for slot in event_slots})
            ),
        )
        self.key = CompiledQuery(
            engine,
            IdempotencyRow.insert(
                IdempotencyRow(
                    key=Slot("key"), todo_id=Slot("id"), response=Slot("response"), created_at=at
                )
            ),
        )
        self.together: dict[bool, CompiledQuery] | None = None
        """By whether a key comes along; None on SQLite, which has no inserts in `WITH`."""
        if is_postgres(engine):
            todo_and_event = [Slot("id"), Slot("text"), at, at, Deadline(), *event_slots]
            key = QueryString(_AND_ITS_KEY, Slot("key"), Slot("response"), at)
            self.together = {
                False: CompiledQuery(
                    engine, QueryString(_CREATE_BY_DEADLINE, *todo_and_event, QueryString(""))
                ),
                True: CompiledQuery(engine, QueryString(_CREATE_BY_DEADLINE, *todo_and_event, key)),
            }


class TodoService:
    def __init__(self, engine: AnyEngine, on_commit: Callable[[], None]) -> None:
        self._engine = engine
        self._on_commit = on_commit
        self._pages = _PageQueries(engine)
        self._inserts = _Inserts(engine)
        self._created: dict[str, Any] = {}
        """`TODOS_CREATED`'s child for each trigger, looked up once."""

    async def page(self, limit: int, after: Position | None = None) -> TodoPage:
        """Up to `limit` todos, newest first, starting after `after` (from the start if None)."""
        first, following = self._pages.for_limit(limit + 1)  # one more says whether more remain
        if after is None:
            rows = await first.rows()
        else:
            rows = await following.rows(created_at=after.created_at, id=after.id)
        todos = [TodoView(*row.values()) for row in rows[:limit]]
        last = todos[-1] if len(rows) > limit else None
        return TodoPage(todos, None if last is None else Position(last.created_at, last.id))

    async def get(self, todo_id: uuid.UUID) -> Todo:
        row = await TodoRow.select().where(TodoRow.id == todo_id).first()
        if row is None:
            raise TodoNotFound(todo_id)
        return _to_todo(row)

    async def create(
        self, text: object, *, idempotency_key: str | None = None, via: str
    ) -> Created:
        """Create a todo; a key seen before returns the todo it first created instead, or raises
        IdempotencyKeyReused when that todo was created from a different text."""
        text = validate_todo_text(text)
        try:
            outcome, created = await self._create_once(text, idempotency_key)
        except Exception as exc:
            if not (idempotency_key and _is_unique_violation(exc)):
                raise
            # The key was used before (or by a concurrent request): answer with its todo.
            outcome, created = await self._recorded(idempotency_key), False
        todo = outcome.todo
        if not created and todo.text != text:
            raise IdempotencyKeyReused(idempotency_key or "")
        if created:
            self._on_commit()
            if (created_via := self._created.get(via)) is None:
                created_via = self._created[via] = TODOS_CREATED.labels(via=via)
            created_via.inc()
            log.info("todo created", extra={"todo_id": str(todo.id), "via": via, "text": todo.text})
        else:
            log.info("todo creation repeated", extra={"todo_id": str(todo.id), "via": via})
        return outcome

    async def _create_once(self, text: str, idempotency_key: str | None) -> tuple[Created, bool]:
        now = datetime.now(UTC)
        todo = Todo(id=uuid.uuid4(), text=text, done=False, created_at=now, updated_at=now)
        outcome = Created(todo, _json(todo))
        values: dict[str, Any] = {"id": todo.id, "text": text, "at": now}
        if idempotency_key:
            values |= {"key": idempotency_key, "response": outcome.json}
        if self._inserts.together is not None:
            # A key used before fails the whole statement; `create` answers with its todo.
            with self._traced("create"):
                values |= self._event(TODO_CREATED, todo.id, outcome.json)
                [row] = await self._inserts.together[bool(idempotency_key)].rows(**values)
            if not row["created"]:
                raise TimeoutError("the database ran the write past its deadline")
            return outcome, True
        async with self._transaction("create"):
            if idempotency_key:
                recorded = await self._recorded_or_none(idempotency_key)
                if recorded is not None:
                    return recorded, False
            await self._inserts.todo.rows(**values)
            await self._inserts.event.rows(**self._event(TODO_CREATED, todo.id, outcome.json))
            if idempotency_key:
                await self._inserts.key.rows(**values)
            return outcome, True

    async def _recorded_or_none(self, key: str) -> Created | None:
        row = (
            await IdempotencyRow.select(IdempotencyRow.response)
            .where(IdempotencyRow.key == key)
            .first()
        )
        if row is None:
            return None
        return Created(msgspec.json.decode(row["response"], type=Todo), row["response"])

    async def _recorded(self, key: str) -> Created:
        recorded = await self._recorded_or_none(key)
        if recorded is None:
            raise RuntimeError(f"idempotency key {key!r} vanished after a conflict")
        return recorded

    async def update(
        self, todo_id: uuid.UUID, *, text: str | None = None, done: bool | None = None
    ) -> Todo:
        if text is not None:
            text = validate_todo_text(text)
        async with self._transaction("update"):
            current = await self.get(todo_id)
            changes = {
                k: v
                for k, v in {"text": text, "done": done}.items()
                if v is not None and getattr(current, k) != v
            }
            if not changes:
                return current
            todo = msgspec.structs.replace(current, **changes, updated_at=datetime.now(UTC))
            await TodoRow.update(
                {
                    TodoRow.text: todo.text,
                    TodoRow.done: todo.done,
                    TodoRow.updated_at: todo.updated_at,
                }
            ).where(TodoRow.id == todo_id)
            previous = TodoPrevious(**{k: getattr(current, k) for k in changes})
            event = TodoUpdated(**msgspec.structs.asdict(todo), previous=previous)
            await self._record_event(TODO_UPDATED, todo.id, event)
        self._on_commit()
        log.info("todo updated", extra={"todo_id": str(todo_id), "changed": sorted(changes)})
        return todo

    async def delete(self, todo_id: uuid.UUID) -> None:
        async with self._transaction("delete"):
            todo = await self.get(todo_id)
            await TodoRow.delete().where(TodoRow.id == todo_id)
            await self._record_event(TODO_DELETED, todo_id, TodoDeleted(id=todo_id, text=todo.text))
        self._on_commit()
        log.info("todo deleted", extra={"todo_id": str(todo_id)})

    def _traced(self, operation: str) -> AbstractContextManager[Any]:
        """The write's database span: the outbox row records it as the event's parent, so the
        trace runs request → database → publish. Without a tracer that records, the row records
        the request's trace context."""
        if not is_recording():
            return _UNTRACED
        return _tracer.start_as_current_span(
            f"todo.{operation}",
            kind=trace.SpanKind.CLIENT,
            attributes={
                "db.system": "postgresql" if is_postgres(self._engine) else "sqlite",
                "db.operation": operation,
            },
        )

    @asynccontextmanager
    async def _transaction(self, operation: str) -> AsyncIterator[None]:
        with self._traced(operation):
            async with write_transaction(self._engine):
                yield

    def _event(self, channel: Channel, todo_id: uuid.UUID, data: str) -> dict[str, Any]:
        """The outbox row's values for an event about `todo_id` (`data` is its JSON), parented
        by the current span."""
        return {
            "event_id": str(uuid.uuid4()),
            "subject": channel.subject,
            "event_type": channel.event_type,
            "aggregate_id": str(todo_id),
            "data": data,
            "traceparent": current_traceparent(),
            "created_at": datetime.now(UTC),
        }

    async def _record_event(
        self, channel: Channel, todo_id: uuid.UUID, data: msgspec.Struct
    ) -> None:
        await self._inserts.event.rows(**self._event(channel, todo_id, _json(data)))
