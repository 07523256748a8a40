"""Todo events and commands, and the one text rule every way of creating a todo obeys."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any
from uuid import UUID

import msgspec

TEXT_MAX_CHARACTERS = 140


class TodoTextError(ValueError):
    """Rejected todo text; `reason` is a stable machine-readable label."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


TEXT_RULE = (
    f"Trimmed, then 1..{TEXT_MAX_CHARACTERS} Unicode characters; no NUL, no lone surrogates, no"
    " control characters other than tab, line feed and carriage return."
)

# Characters no todo may hold, each with its own reason. Ordinary whitespace stays allowed:
# tab, line feed and carriage return inside a pasted text are harmless (the page shows them as a
# space, chat messages as they are). Every other C0/C1 control character, DEL included, is
# invisible or garbles a page or a terminal; NUL is refused by PostgreSQL; a lone surrogate
# (U+D800..U+DFFF not in a pair, possible in JSON's `\ud800`) is not a character at all and
# cannot be encoded as UTF-8.
_FORBIDDEN = (
    (re.compile(r"\x00"), "text_contains_nul", "the NUL character"),
    (
        re.compile(r"[\ud800-\udfff]"),
        "text_contains_lone_surrogate",
        "a lone surrogate (half of a UTF-16 pair, not a character)",
    ),
    (
        re.compile(r"[\x01-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]"),
        "text_contains_control_character",
        "control characters other than tab and line breaks",
    ),
)


def validate_todo_text(value: Any) -> str:
    """Trim, refuse characters no page or database can hold, then require 1..140 Unicode
    characters (code points, so an emoji counts once).

    Each refusal has its own stable `reason`; content is checked before length, so an
    over-long text with a NUL is refused for the NUL.
    """
    if value is None:
        raise TodoTextError("missing_text", "text is required")
    if not isinstance(value, str):
        raise TodoTextError("text_not_string", "text must be a string")
    text = value.strip()
    if not text:
        raise TodoTextError("empty_text", "text must not be empty or only whitespace")
    for pattern, reason, what in _FORBIDDEN:
        if found := pattern.search(text):
            raise TodoTextError(
                reason,
                f"text must not contain {what}: "
                f"U+{ord(found.group()):04X} at character {found.start() + 1}",
            )
    if len(text) > TEXT_MAX_CHARACTERS:
        raise TodoTextError(
            "text_too_long",
            f"text must be at most {TEXT_MAX_CHARACTERS} characters, got {len(text)}",
        )
    return text


Timestamp = Annotated[
    datetime,
    # RFC 3339, as every producer writes it; documented without refusing a timestamp that lacks
    # its offset, which consumers have always read.
    msgspec.Meta(extra_json_schema={"format": "date-time"}),
]


class Todo(msgspec.Struct, frozen=True):
    """Data of `todo.created.v1` and `todo.updated.v1`, and the REST representation."""

    id: UUID
    text: str
    done: bool
    created_at: Timestamp
    updated_at: Timestamp


class TodoPrevious(msgspec.Struct, frozen=True):
    """The values an update replaced: a field is set only when the update changed it."""

    text: str | None = None
    done: bool | None = None


class TodoUpdated(Todo, frozen=True):
    """Data of `todo.updated.v1`: the todo after the update and what it was before.

    `previous` is optional so that events published before it existed still read; a consumer
    then knows the new state but not what changed.
    """

    previous: TodoPrevious | None = None


class TodoDeleted(msgspec.Struct, frozen=True):
    """Data of `todo.deleted.v1`: the id, and the text the todo had so consumers can name it.

    `text` is optional so that events published before it existed still read.
    """

    id: UUID
    text: str | None = None


CommandText = Annotated[
    str,
    # Documented, not enforced by msgspec: the rule applies to the trimmed text, and each of its
    # refusals has its own reason (`__post_init__`).
    msgspec.Meta(
        description=TEXT_RULE,
        extra_json_schema={"minLength": 1, "maxLength": TEXT_MAX_CHARACTERS},
    ),
]


class CreateTodo(msgspec.Struct):
    """Data of the `todo.create.v1` command; the CloudEvent id is its idempotency key."""

    text: CommandText

    def __post_init__(self) -> None:
        self.text = validate_todo_text(self.text)

    @classmethod
    def from_data(cls, data: Any) -> CreateTodo:
        """The command in an event's JSON data. A text that breaks the rule raises its
        TodoTextError, whatever its type (null or a number included); data that is no command at
        all (not an object, no `text`) raises msgspec.ValidationError."""
        if isinstance(data, dict) and "text" in data:
            return cls(text=data["text"])
        return msgspec.convert(data, cls)
