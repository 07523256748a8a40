"""`POST /` with a CloudEvent, as Knative's PingSource sends it: one todo command per trigger."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared_testkit.polling import eventually
from svc_wikipedia.suggestions import command_id

PING_SOURCE = "/apis/v1/namespaces/default/pingsources/wikipedia-hourly"


def binary_ping(event_id: str) -> dict[str, str]:
    return {
        "ce-specversion": "1.0",
        "ce-id": event_id,
        "ce-type": "dev.knative.sources.ping",
        "ce-source": PING_SOURCE,
        "ce-time": "2026-11-27T10:00:00Z",
        "Content-Type": "application/json",
    }


async def test_a_binary_mode_ping_publishes_one_read_command(
    client: Any, wikipedia: Any, stored_commands: Any
) -> None:
    response = await client.post("/", headers=binary_ping("ping-1"), content=b'{"message":"x"}')

    assert response.status_code == 202
    commands = await eventually(stored_commands)
    assert len(commands) == 1
    assert commands[0].text == f"Read {wikipedia.url}/wiki/Article_1"
    assert commands[0].headers["ce-type"] == "todo.create.v1"
    assert commands[0].headers["ce-id"] == command_id(f"{PING_SOURCE}#ping-1")
    assert response.json()["command_id"] == commands[0].headers["ce-id"]


async def test_a_structured_mode_request_publishes_one_read_command(
    client: Any, wikipedia: Any, stored_commands: Any
) -> None:
    event = {
        "specversion": "1.0",
        "id": "request-7",
        "type": "wikipedia.requested.v1",
        "source": "/tests",
        "data": {},
    }
    response = await client.post(
        "/",
        content=json.dumps(event),
        headers={"Content-Type": "application/cloudevents+json"},
    )

    assert response.status_code == 202
    commands = await eventually(stored_commands)
    assert [c.text for c in commands] == [f"Read {wikipedia.url}/wiki/Article_1"]
    assert commands[0].headers["ce-id"] == command_id("/tests#request-7")


async def test_the_same_trigger_twice_stores_one_command(
    client: Any, wikipedia: Any, stored_commands: Any
) -> None:
    first = await client.post("/", headers=binary_ping("ping-again"))
    second = await client.post("/", headers=binary_ping("ping-again"))

    assert (first.status_code, second.status_code) == (202, 202)
    assert second.json()["duplicate"] is True
    assert first.json()["command_id"] == second.json()["command_id"]
    assert len(await stored_commands()) == 1


@pytest.mark.parametrize(
    ("headers", "body", "reason"),
    [
        ({"ce-specversion": "1.0", "ce-type": "dev.knative.sources.ping"}, b"", "missing"),
        (
            {"Content-Type": "application/cloudevents+json"},
            b"{not json",
            "not JSON",
        ),
        (
            {**binary_ping("x"), "ce-type": "com.example.unknown"},
            b"{}",
            "unsupported event type",
        ),
        (
            {**binary_ping("x"), "ce-type": "wikipedia.requested.v1"},
            b"[1, 2]",
            "not a wikipedia.requested.v1 request",
        ),
    ],
    ids=["missing-attributes", "structured-not-json", "unknown-type", "bad-request-data"],
)
async def test_a_malformed_event_is_rejected_with_the_reason_and_publishes_nothing(
    client: Any, js: Any, headers: dict[str, str], body: bytes, reason: str
) -> None:
    response = await client.post("/", headers=headers, content=body)

    assert response.status_code == 400
    assert reason in response.json()["detail"]
    assert (await js.stream_info("TODO_COMMANDS")).state.messages == 0


async def test_wikipedia_down_answers_503_so_the_caller_retries_and_publishes_nothing(
    client: Any, wikipedia: Any, js: Any
) -> None:
    wikipedia.mode = "server_error"

    response = await client.post("/", headers=binary_ping("ping-while-down"))

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert "503" in response.json()["detail"]
    assert (await js.stream_info("TODO_COMMANDS")).state.messages == 0
    assert 'wikipedia_failures_total{kind="server_error"}' in (await client.get("/metrics")).text


async def test_ready_when_nats_is_connected(client: Any) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
