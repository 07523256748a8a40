"""One page of the todo list: newest first, ties broken by id, continued by an opaque cursor.

Keyset pagination: a cursor names the last todo a page held and the next page starts strictly
after it in (created_at, id) order, so todos created meanwhile (always the newest) never shift
or repeat what a client has still to read, and a deep page costs what the first one does.
Rows become JSON in one msgspec call, without a pydantic model per row on the hottest read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

import msgspec

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


class TodoView(msgspec.Struct, frozen=True):
    """The contract's `Todo` as the list sends it: the same JSON as `shared_contracts.todos.Todo`
    (fields in the same order), built straight from a database row."""

    id: UUID
    text: str
    done: bool
    created_at: datetime
    updated_at: datetime


class BadCursor(ValueError):
    """A cursor this service did not hand out (or one damaged on the way)."""


@dataclass(frozen=True)
class Position:
    """Where a page ended: the (created_at, id) of its last todo."""

    created_at: datetime
    id: UUID

    def cursor(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.id}".encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    @classmethod
    def from_cursor(cls, cursor: str) -> Position:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
            created_at, todo_id = raw.split("|")
            position = cls(datetime.fromisoformat(created_at), UUID(todo_id))
        except (ValueError, binascii.Error) as exc:
            raise BadCursor("cursor is not one this service handed out") from exc
        if position.created_at.tzinfo is None:
            raise BadCursor("cursor is not one this service handed out")
        return position


_encoder = msgspec.json.Encoder()


@dataclass(frozen=True)
class TodoPage:
    todos: list[TodoView]
    next: Position | None
    """Where the following page starts; None on the last page."""

    def json(self) -> bytes:
        return _encoder.encode(self.todos)


def entity_tag(*parts: bytes) -> str:
    """A strong ETag over everything a response says (body and links)."""
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update(part)
    return f'"{digest.hexdigest()}"'


def matches(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 `If-None-Match`: weak comparison, a list of tags, or `*`."""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags
