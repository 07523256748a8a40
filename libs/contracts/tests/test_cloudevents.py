"""The CloudEvent envelope: what other systems send us and what we put on the wire."""

from __future__ import annotations

import json

import pytest

from shared_contracts.catalog import CREATE_TODO, STREAMS, channel_for_type, dlq_subject
from shared_contracts.cloudevents import PREDECESSOR_ID, CloudEvent, InvalidEvent
from shared_contracts.todos import CreateTodo, TodoTextError, validate_todo_text


def test_binary_mode_round_trip_over_nats() -> None:
    event = CloudEvent.new(
        "todo.create.v1",
        "tests",
        CreateTodo(text="hello"),
        traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01",
    )

    headers = event.nats_headers()
    again = CloudEvent.from_nats(headers, event.data)

    assert headers["Nats-Msg-Id"] == headers["ce-id"] == event.id
    assert headers["Content-Type"] == "application/json"
    assert again.id == event.id
    assert again.type == "todo.create.v1"
    assert again.traceparent == event.traceparent
    assert again.json_data() == {"text": "hello"}


def test_an_event_names_its_predecessor_in_an_extension_that_survives_the_wire() -> None:
    first = CloudEvent.new("todo.created.v1", "tests", CreateTodo(text="hello"))
    second = CloudEvent(
        id="second", type="todo.updated.v1", source="tests", extensions={PREDECESSOR_ID: first.id}
    )

    headers = second.nats_headers()

    assert headers["ce-predecessorid"] == first.id
    assert CloudEvent.from_nats(headers, second.data).predecessor_id == first.id
    assert CloudEvent.from_nats(first.nats_headers(), first.data).predecessor_id is None


def test_structured_http_mode_is_read_with_its_data() -> None:
    body = json.dumps(
        {
            "specversion": "1.0",
            "id": "ping-1",
            "source": "/pingsource",
            "type": "dev.knative.sources.ping",
            "time": "2026-11-27T10:00:00Z",
            "data": {"hello": "world"},
        }
    ).encode()

    event = CloudEvent.from_http({"Content-Type": "application/cloudevents+json"}, body)

    assert (event.id, event.type, event.source) == (
        "ping-1",
        "dev.knative.sources.ping",
        "/pingsource",
    )
    assert event.time.isoformat() == "2026-11-27T10:00:00+00:00"
    assert event.json_data() == {"hello": "world"}


@pytest.mark.parametrize(
    ("headers", "body", "message"),
    [
        ({"ce-id": "1", "ce-source": "s", "ce-type": "t"}, b"{}", "specversion"),
        (
            {"ce-specversion": "0.3", "ce-id": "1", "ce-source": "s", "ce-type": "t"},
            b"{}",
            "unsupported specversion",
        ),
        (
            {
                "ce-specversion": "1.0",
                "ce-id": "1",
                "ce-source": "s",
                "ce-type": "t",
                "ce-time": "yesterday",
            },
            b"{}",
            "RFC 3339",
        ),
        ({"Content-Type": "application/cloudevents+json"}, b"[1]", "JSON object"),
        ({"Content-Type": "application/cloudevents+json"}, b"{", "not JSON"),
    ],
)
def test_malformed_events_say_what_is_wrong(
    headers: dict[str, str], body: bytes, message: str
) -> None:
    with pytest.raises(InvalidEvent, match=message):
        CloudEvent.from_http(headers, body)


def test_invalid_json_data_is_an_invalid_event() -> None:
    event = CloudEvent(id="1", type="t", source="s", data=b"{oops")
    with pytest.raises(InvalidEvent, match="not JSON"):
        event.json_data()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (None, "missing_text"),
        (3, "text_not_string"),
        ("  ", "empty_text"),
        ("a" * 141, "text_too_long"),
    ],
)
def test_the_todo_text_rule_names_what_failed(text: object, reason: str) -> None:
    with pytest.raises(TodoTextError) as failure:
        validate_todo_text(text)
    assert failure.value.reason == reason


def test_the_catalog_routes_every_channel_to_its_stream() -> None:
    assert channel_for_type("todo.create.v1") == CREATE_TODO
    assert channel_for_type("nothing.v1") is None
    assert dlq_subject("broadcaster") == "dlq.broadcaster"
    subjects = [subject for stream in STREAMS for subject in stream.subjects]
    assert len(subjects) == len(set(subjects))


def test_json_nested_too_deeply_is_an_invalid_event_not_a_crash() -> None:
    deep = b"[" * 5000 + b"]" * 5000
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        CloudEvent(id="1", type="t", source="/s", data=deep).json_data()
    structured = (
        b'{"specversion": "1.0", "id": "1", "type": "t", "source": "/s", "data": ' + deep + b"}"
    )
    with pytest.raises(InvalidEvent, match="nested too deeply"):
        CloudEvent.from_http({"content-type": "application/cloudevents+json"}, structured)
