"""The JSON of every event and REST body, byte for byte: each expected document below is what the
contracts emitted when they were pydantic models, and events published then must still read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from uuid import UUID

import msgspec
import pytest

from shared_contracts.catalog import CHANNELS
from shared_contracts.cloudevents import CloudEvent
from shared_contracts.todos import CreateTodo, Todo, TodoDeleted, TodoPrevious, TodoUpdated
from shared_contracts.wikipedia import WikipediaRequested

ID = UUID("12345678-1234-5678-1234-567812345678")
CREATED = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)
UPDATED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
TODO = Todo(id=ID, text="hi", done=False, created_at=CREATED, updated_at=UPDATED)
TODO_JSON = (
    '{"id":"12345678-1234-5678-1234-567812345678","text":"hi","done":false,'
    '"created_at":"2026-01-02T03:04:05.123456Z","updated_at":"2026-01-02T03:04:05+02:00"'
)
FIELDS = {
    "id": ID,
    "text": "hi",
    "done": False,
    "created_at": CREATED,
    "updated_at": UPDATED,
}

WIRE = [
    pytest.param(TODO, TODO_JSON + "}", id="todo"),
    pytest.param(
        TodoUpdated(**FIELDS, previous=TodoPrevious(text="x")),
        TODO_JSON + ',"previous":{"text":"x","done":null}}',
        id="updated",
    ),
    pytest.param(TodoUpdated(**FIELDS), TODO_JSON + ',"previous":null}', id="updated-unknown"),
    pytest.param(
        TodoDeleted(id=ID, text="a"),
        '{"id":"12345678-1234-5678-1234-567812345678","text":"a"}',
        id="deleted",
    ),
    pytest.param(
        TodoDeleted(id=ID),
        '{"id":"12345678-1234-5678-1234-567812345678","text":null}',
        id="deleted-unknown-text",
    ),
    pytest.param(CreateTodo(text="  a "), '{"text":"a"}', id="create"),
    pytest.param(WikipediaRequested(), "{}", id="wikipedia-requested"),
]


@pytest.mark.parametrize(("data", "wire"), WIRE)
def test_events_carry_the_same_json_as_before(data: msgspec.Struct, wire: str) -> None:
    assert CloudEvent.new("t.v1", "tests", data).data == wire.encode()


@pytest.mark.parametrize(("data", "wire"), WIRE)
def test_the_same_json_reads_back_as_the_same_data(data: msgspec.Struct, wire: str) -> None:
    assert msgspec.json.decode(wire, type=type(data)) == data


def test_every_channels_model_is_covered() -> None:
    covered = {type(param.values[0]) for param in WIRE}
    assert {channel.model for channel in CHANNELS} <= covered


def test_events_published_before_the_optional_fields_existed_still_read() -> None:
    update = msgspec.json.decode(TODO_JSON + "}", type=TodoUpdated)
    deletion = msgspec.json.decode(f'{{"id":"{ID}"}}', type=TodoDeleted)

    assert update.previous is None
    assert deletion.text is None


def test_a_utc_offset_reads_in_either_spelling_and_unknown_fields_are_ignored() -> None:
    wire = TODO_JSON.replace("+02:00", "+00:00") + ',"priority":3}'

    todo = msgspec.json.decode(wire, type=Todo)

    assert todo.created_at == CREATED
    assert todo.updated_at == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
