"""End to end: each change made over HTTP becomes one chat message, through the outbox and NATS."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import httpx

from shared_testkit.asgi_server import serve_app
from shared_testkit.polling import eventually
from shared_testkit.webhook_sink import WebhookSink
from svc_broadcaster.app import create_app as create_broadcaster
from svc_broadcaster.settings import BroadcasterSettings

StartTodo = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_each_change_to_a_todo_is_one_chat_message_naming_it(
    todo_app: StartTodo, nats_url: str, webhook_sink: WebhookSink
) -> None:
    broadcaster = create_broadcaster(
        BroadcasterSettings(
            nats_url=nats_url, webhook_url=webhook_sink.url, webhook_format="generic"
        )
    )
    async with todo_app() as todo, serve_app(broadcaster):
        created = (await todo.post("/api/todos", json={"text": "call the plumber"})).json()
        url = f"/api/todos/{created['id']}"
        for change in (
            {"done": True},
            {"text": "call the electrician"},
            {"done": False},
            {"text": "call the plumber"},
        ):
            (await todo.put(url, json=change)).raise_for_status()
        (await todo.delete(url)).raise_for_status()

        async def six_messages() -> bool:
            return len(webhook_sink.accepted()) >= 6

        await eventually(six_messages, timeout=10)

    messages = [call.json()["message"] for call in webhook_sink.accepted()]
    assert sorted(messages) == sorted(
        [
            "A todo was created: call the plumber",
            "A todo was marked done: call the plumber",
            'A done todo was renamed from "call the plumber" to "call the electrician"',
            "A todo was marked not done: call the electrician",
            'A todo was renamed from "call the electrician" to "call the plumber"',
            "A todo was deleted: call the plumber",
        ]
    )
    keys = [call.idempotency_key for call in webhook_sink.accepted()]
    assert len(keys) == len(set(keys)) == 6
