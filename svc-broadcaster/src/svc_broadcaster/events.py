"""From a todo event on the wire to the sentence a chat shows."""

from __future__ import annotations

import re
from dataclasses import dataclass

import msgspec

from shared_contracts.catalog import (
    TODO_CREATED,
    TODO_DELETED,
    TODO_EVENTS,
    TODO_UPDATED,
    channel_for_type,
)
from shared_contracts.cloudevents import CloudEvent, InvalidEvent
from shared_contracts.todos import Todo, TodoDeleted, TodoPrevious, TodoUpdated


@dataclass(frozen=True)
class Announcement:
    event: CloudEvent
    text: str


def announcement_for(event: CloudEvent) -> Announcement:
    """The message for a todo event; InvalidEvent when no retry could ever help."""
    channel = channel_for_type(event.type)
    if channel not in TODO_EVENTS:
        raise InvalidEvent(f"not a todo event type: {event.type!r}")
    try:
        # Not strict: a value in another JSON type that clearly means the same ("true", a
        # timestamp as a number) is read, as it always was.
        data = msgspec.json.decode(event.data, type=channel.model, strict=False)
    except msgspec.DecodeError as exc:
        raise InvalidEvent(f"{event.type} data is invalid: {_problem(exc)}") from exc
    return Announcement(event, describe(event.type, data))


_MISSING_FIELD = re.compile(r"Object missing required field `(?P<field>[^`]+)`")


def _problem(exc: msgspec.DecodeError) -> str:
    """`<field>: <what is wrong>` (`data` when it is about the whole), the form a dead letter's
    reason has always had for operators."""
    message, _, at = str(exc).partition(" - at `$")
    path = at.removesuffix("`").removeprefix(".")
    if missing := _MISSING_FIELD.fullmatch(message):
        path, message = ".".join(filter(None, (path, missing["field"]))), "Field required"
    return f"{path or 'data'}: {message}"


def describe(event_type: str, data: msgspec.Struct) -> str:
    """One sentence naming what happened to which todo, by its text."""
    if event_type == TODO_CREATED.event_type and isinstance(data, Todo):
        return f"A todo was created: {data.text}"
    if event_type == TODO_UPDATED.event_type and isinstance(data, TodoUpdated):
        return _describe_update(data)
    if event_type == TODO_DELETED.event_type and isinstance(data, TodoDeleted):
        if data.text is None:  # published before delete events carried the text
            return f"A todo was deleted (its text was not recorded; id {data.id})"
        return f"A todo was deleted: {data.text}"
    raise InvalidEvent(f"no message for {event_type!r} with {type(data).__name__} data")


def _describe_update(todo: TodoUpdated) -> str:
    state = "done" if todo.done else "not done"
    # Events published before `previous` existed say only the new state, not what changed.
    previous = todo.previous or TodoPrevious()
    renamed = previous.text is not None and previous.text != todo.text
    toggled = previous.done is not None and previous.done != todo.done
    if renamed and toggled:
        return f'A todo was renamed from "{previous.text}" to "{todo.text}" and marked {state}'
    if renamed:
        subject = "A done todo" if todo.done else "A todo"
        return f'{subject} was renamed from "{previous.text}" to "{todo.text}"'
    if toggled:
        return f"A todo was marked {state}: {todo.text}"
    return f"A todo was updated: {todo.text} (now {state})"
