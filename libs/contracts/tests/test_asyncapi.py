"""The AsyncAPI documents are generated from the contracts: valid AsyncAPI 3.0, every channel's
payload the model's JSON schema, every message's CloudEvents headers described."""

from __future__ import annotations

import inspect
import json
from pathlib import Path
from typing import Any

import msgspec
import pytest
from jsonschema import Draft7Validator

from shared_contracts.asyncapi import document
from shared_contracts.catalog import CHANNELS, CREATE_TODO, TODO_EVENTS, Channel

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "asyncapi" / "3.0.0.json"
TODO_SERVICE = document(
    "svc-todo", "0.1.0", sends=TODO_EVENTS, receives=(CREATE_TODO,), nats_url="nats://nats:4222"
)


def test_the_document_is_valid_asyncapi_3() -> None:
    validator = Draft7Validator(json.loads(SCHEMA.read_text()))
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(TODO_SERVICE)]
    assert errors == []


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.event_type)
def test_each_payload_is_the_models_schema(channel: Channel) -> None:
    doc = document("all", "1", receives=(channel,))
    message = doc["components"]["messages"][channel.event_type]
    schema = resolve(doc, message["payload"])
    fields = msgspec.structs.fields(channel.model)
    assert schema["type"] == "object"
    assert list(schema["properties"]) == [f.encode_name for f in fields]
    assert schema.get("required", []) == [f.encode_name for f in fields if f.required]
    assert schema["description"] == inspect.getdoc(channel.model)


def test_the_todo_schema_names_the_formats_of_its_values() -> None:
    schemas = TODO_SERVICE["components"]["schemas"]
    todo = schemas["TodoUpdated"]["properties"]
    assert todo["id"] == {"type": "string", "format": "uuid"}
    assert todo["created_at"] == todo["updated_at"] == {"type": "string", "format": "date-time"}
    assert todo["previous"]["anyOf"] == [
        {"$ref": "#/components/schemas/TodoPrevious"},
        {"type": "null"},
    ]
    assert "previous" not in schemas["TodoUpdated"]["required"]
    assert schemas["TodoDeleted"]["required"] == ["id"]


def test_the_create_command_documents_its_text() -> None:
    message = TODO_SERVICE["components"]["messages"]["todo.create.v1"]
    payload = resolve(TODO_SERVICE, message["payload"])
    assert payload["required"] == ["text"]
    assert payload["properties"]["text"]["maxLength"] == 140


@pytest.mark.parametrize("channel", CHANNELS, ids=lambda c: c.event_type)
def test_each_message_documents_the_cloudevents_headers(channel: Channel) -> None:
    doc = document("all", "1", sends=(channel,))
    headers = doc["components"]["messages"][channel.event_type]["headers"]
    assert headers["properties"]["ce-type"] == {"const": channel.event_type}
    assert set(headers["required"]) == {"ce-specversion", "ce-id", "ce-type", "ce-source"}
    assert {"ce-time", "Content-Type", "Nats-Msg-Id", "traceparent"} <= set(headers["properties"])


def test_a_todos_later_events_document_the_predecessor_they_name() -> None:
    """Consumers that keep a todo's order read `ce-predecessorid`; a creation has none."""
    messages = TODO_SERVICE["components"]["messages"]
    named = {
        event_type: "ce-predecessorid" in message["headers"]["properties"]
        for event_type, message in messages.items()
    }
    assert named == {
        "todo.created.v1": False,
        "todo.updated.v1": True,
        "todo.deleted.v1": True,
        "todo.create.v1": False,
    }


def test_operations_say_what_the_service_sends_and_receives() -> None:
    actions = {name: op["action"] for name, op in TODO_SERVICE["operations"].items()}
    assert actions == {
        "send.todos.events.created": "send",
        "send.todos.events.updated": "send",
        "send.todos.events.deleted": "send",
        "receive.todos.commands.create": "receive",
    }
    assert TODO_SERVICE["servers"] == {"nats": {"host": "nats:4222", "protocol": "nats"}}


def resolve(doc: dict[str, Any], ref: dict[str, str]) -> dict[str, Any]:
    node: Any = doc
    for part in ref["$ref"].removeprefix("#/").split("/"):
        node = node[part]
    return dict(node)
