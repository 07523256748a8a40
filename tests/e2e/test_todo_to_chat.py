"""End to end: a todo created over HTTP becomes one chat message, through the outbox and NATS."""

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


async def test_posting_a_todo_sends_one_chat_message(
    todo_app: StartTodo, nats_url: str, webhook_sink: WebhookSink
) -> None:
    broadcaster = create_broadcaster(
        BroadcasterSettings(
            nats_url=nats_url, webhook_url=webhook_sink.url, webhook_format="generic"
        )
    )
    async with todo_app() as todo, serve_app(broadcaster):
        created = (await todo.post("/api/todos", json={"text": "call the plumber"})).json()
        await todo.put(f"/api/todos/{created['id']}", json={"done": True})

        async def two_messages() -> bool:
            return len(webhook_sink.accepted()) >= 2

        await eventually(two_messages, timeout=10)

    messages = [call.json() for call in webhook_sink.accepted()]
    assert messages[0] == {"user": "bot", "message": "A todo was created: call the plumber"}
    assert "call the plumber" in messages[1]["message"]
    keys = [call.idempotency_key for call in webhook_sink.accepted()]
    assert len(keys) == len(set(keys)) == 2
