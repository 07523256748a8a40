"""Every stream, subject and event type of the system, named once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from pydantic import BaseModel

from shared_contracts.todos import CreateTodo, Todo, TodoDeleted, TodoUpdated
from shared_contracts.wikipedia import WikipediaRequested


@dataclass(frozen=True)
class Stream:
    name: str
    subjects: tuple[str, ...]
    duplicate_window: timedelta = timedelta(hours=1)


@dataclass(frozen=True)
class Channel:
    """A subject, the CloudEvent type published on it and the model of its data."""

    subject: str
    event_type: str
    model: type[BaseModel]
    stream: Stream


TODOS = Stream("TODOS", ("todos.events.>",))
TODO_COMMANDS = Stream("TODO_COMMANDS", ("todos.commands.>",))
WIKIPEDIA = Stream("WIKIPEDIA", ("wikipedia.>",))
DLQ = Stream("DLQ", ("dlq.>",))
STREAMS = (TODOS, TODO_COMMANDS, WIKIPEDIA, DLQ)

TODO_CREATED = Channel("todos.events.created", "todo.created.v1", Todo, TODOS)
TODO_UPDATED = Channel("todos.events.updated", "todo.updated.v1", TodoUpdated, TODOS)
TODO_DELETED = Channel("todos.events.deleted", "todo.deleted.v1", TodoDeleted, TODOS)
TODO_EVENTS = (TODO_CREATED, TODO_UPDATED, TODO_DELETED)
CREATE_TODO = Channel("todos.commands.create", "todo.create.v1", CreateTodo, TODO_COMMANDS)
WIKIPEDIA_REQUESTED = Channel(
    "wikipedia.requests", "wikipedia.requested.v1", WikipediaRequested, WIKIPEDIA
)

DLQ_REASON_HEADER = "dlq-reason"
DLQ_DELIVERIES_HEADER = "dlq-deliveries"


def dlq_subject(consumer: str) -> str:
    """Where a consumer that gives up on a message puts it, for operators to inspect or replay."""
    return f"dlq.{consumer}"


def channel_for_type(event_type: str) -> Channel | None:
    return next(
        (c for c in (*TODO_EVENTS, CREATE_TODO, WIKIPEDIA_REQUESTED) if c.event_type == event_type),
        None,
    )
