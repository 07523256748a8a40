"""Text PostgreSQL cannot store (NUL, lone surrogates) and control characters: refused with a
reason by every trigger (REST, page form, NATS command), never a 500, never retried."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx
import pytest
from nats.js import JetStreamContext

from shared_contracts.catalog import CREATE_TODO, TODO_COMMANDS_CONSUMER
from shared_contracts.cloudevents import CloudEvent
from shared_contracts.todos import CreateTodo
from shared_testkit.polling import eventually
from tests.conftest import consumer_bound, wait_for_messages

StartTodo = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
JSON = {"Content-Type": "application/json"}

# Raw JSON bodies, as a client sends them: `\u` escapes, so the lone surrogate needs no UTF-8.
BAD_BODIES = [
    pytest.param(rb'{"text": "a\u0000b"}', "text_contains_nul", id="nul"),
    pytest.param(rb'{"text": "a\ud800b"}', "text_contains_lone_surrogate", id="lone-surrogate"),
    pytest.param(rb'{"text": "a\u001b[2Jb"}', "text_contains_control_character", id="escape"),
]


async def todo_texts(client: httpx.AsyncClient) -> list[str]:
    return [todo["text"] for todo in (await client.get("/api/todos")).json()]


@pytest.mark.parametrize(("body", "reason"), BAD_BODIES)
async def test_the_api_refuses_unstorable_text_with_a_reason(
    todo_app: StartTodo, body: bytes, reason: str
) -> None:
    async with todo_app() as client:
        created = await client.post("/api/todos", content=body, headers=JSON)
        kept = (await client.post("/api/todos", json={"text": "kept"})).json()
        updated = await client.put(f"/api/todos/{kept['id']}", content=body, headers=JSON)
        texts = await todo_texts(client)
        metrics = (await client.get("/metrics")).text

    for response in (created, updated):
        assert response.status_code == 400, response.text
        assert response.json()["error"] == reason
        assert "must not contain" in response.json()["detail"]
    assert texts == ["kept"]
    assert f'todos_rejected_total{{reason="{reason}"}}' in metrics


async def test_the_page_form_refuses_a_nul_with_its_inline_message(todo_app: StartTodo) -> None:
    async with todo_app() as client:
        response = await client.post(
            "/fragments/todos",
            content=b"text=a%00b",
            headers={"Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true"},
        )
        texts = await todo_texts(client)

    assert response.status_code == 400, response.text
    assert response.headers["HX-Retarget"] == "#form-error"
    assert "must not contain the NUL character" in response.text
    assert texts == []


async def test_tabs_and_line_breaks_survive_the_database(todo_app: StartTodo) -> None:
    text = "buy\tmilk\r\nand bread\n👍🏽"
    async with todo_app() as client:
        created = await client.post("/api/todos", json={"text": f"  {text}  "})
        stored = (await client.get(f"/api/todos/{created.json()['id']}")).json()

    assert created.status_code == 201
    assert stored["text"] == text


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        pytest.param(b'{"text": "a\\u0000b"}', "text_contains_nul", id="nul"),
        pytest.param(b'{"text": "a\\ud800b"}', "text_contains_lone_surrogate", id="surrogate"),
    ],
)
async def test_a_command_with_unstorable_text_is_dead_lettered_on_its_first_delivery(
    todo_app: StartTodo, jetstream: JetStreamContext, data: bytes, reason: str
) -> None:
    async with todo_app() as client:
        await consumer_bound(jetstream, CREATE_TODO.stream.name, TODO_COMMANDS_CONSUMER.durable)
        bad = CloudEvent.new(CREATE_TODO.event_type, "tests", CreateTodo(text="placeholder"))
        await jetstream.publish(CREATE_TODO.subject, data, headers=bad.nats_headers())
        fine = CloudEvent.new(CREATE_TODO.event_type, "tests", CreateTodo(text="after it"))
        await jetstream.publish(CREATE_TODO.subject, fine.data, headers=fine.nats_headers())

        [dead] = await wait_for_messages(jetstream, "DLQ", 1)
        await eventually(lambda: _has(client, "after it"))
        texts = await todo_texts(client)

    headers = dead.headers or {}
    assert dead.subject == "dlq.todo-commands"
    assert headers["ce-id"] == bad.id
    assert headers["dlq-reason"].startswith(f"{reason}:")
    assert headers["dlq-deliveries"] == "1"
    assert dead.data == data
    assert json.loads(dead.data)["text"].startswith("a")
    assert texts == ["after it"]


async def _has(client: httpx.AsyncClient, text: str) -> bool:
    return text in await todo_texts(client)
