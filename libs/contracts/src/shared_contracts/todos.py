"""Todo events and commands, and the one text rule every way of creating a todo obeys."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

TEXT_MAX_CHARACTERS = 140


class TodoTextError(ValueError):
    """Rejected todo text; `reason` is a stable machine-readable label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def validate_todo_text(value: Any) -> str:
    """Trim, then require 1..140 Unicode characters (code points, so an emoji counts once)."""
    if value is None:
        raise TodoTextError("missing_text", "text is required")
    if not isinstance(value, str):
        raise TodoTextError("text_not_string", "text must be a string")
    text = value.strip()
    if not text:
        raise TodoTextError("empty_text", "text must not be empty or only whitespace")
    if len(text) > TEXT_MAX_CHARACTERS:
        raise TodoTextError(
            "text_too_long",
            f"text must be at most {TEXT_MAX_CHARACTERS} characters, got {len(text)}",
        )
    return text


class Todo(BaseModel):
    """Data of `todo.created.v1` and `todo.updated.v1`, and the REST representation."""

    model_config = ConfigDict(frozen=True)

    id: UUID
    text: str
    done: bool
    created_at: datetime
    updated_at: datetime


class TodoPrevious(BaseModel):
    """The values an update replaced: a field is set only when the update changed it."""

    model_config = ConfigDict(frozen=True)

    text: str | None = None
    done: bool | None = None


class TodoUpdated(Todo):
    """Data of `todo.updated.v1`: the todo after the update and what it was before.

    `previous` is optional so that events published before it existed still read; a consumer
    then knows the new state but not what changed.
    """

    previous: TodoPrevious | None = None


class TodoDeleted(BaseModel):
    """Data of `todo.deleted.v1`: the id, and the text the todo had so consumers can name it.

    `text` is optional so that events published before it existed still read.
    """

    model_config = ConfigDict(frozen=True)

    id: UUID
    text: str | None = None


class CreateTodo(BaseModel):
    """Data of the `todo.create.v1` command; the CloudEvent id is its idempotency key."""

    text: str = Field(min_length=1, max_length=TEXT_MAX_CHARACTERS)

    @field_validator("text", mode="before")
    @classmethod
    def _valid_text(cls, value: Any) -> str:
        return validate_todo_text(value)
