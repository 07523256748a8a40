"""Fixtures for the cross-service suites: svc-todo on real PostgreSQL and a real nats-server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import msgspec
import nats
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared_runtime.telemetry import is_recording
from shared_testkit.asgi_server import serve_app
from shared_testkit.polling import eventually
from svc_todo.app import create_app
from svc_todo.settings import TodoSettings


@pytest.fixture(scope="session", autouse=True)
def finished_spans() -> InMemorySpanExporter:
    """As in production with an OTLP endpoint: a recording tracer provider (so requests start
    traces that messages carry on), exporting to memory where tests can read it."""
    if not is_recording():
        trace.set_tracer_provider(TracerProvider())
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def todo_settings(database_url: str, nats_url: str, tmp_path: Path) -> TodoSettings:
    return TodoSettings(
        database_url=database_url,
        nats_url=nats_url,
        data_dir=tmp_path / "todo",
        image_source_url="http://127.0.0.1:9/unreachable",
        outbox_sweep_seconds=0.5,
    )


@pytest.fixture
def todo_app(
    todo_settings: TodoSettings,
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    """Serve a svc-todo instance (several may share the database and NATS) once it is ready."""

    def start(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return serve_app(create_app(msgspec.structs.replace(todo_settings, **overrides)))

    return start


@pytest.fixture
async def nats_client(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url, max_reconnect_attempts=-1, reconnect_time_wait=0.2)
    yield client
    await client.close()


@pytest.fixture
def jetstream(nats_client: Client) -> JetStreamContext:
    return nats_client.jetstream()


async def stream_messages(js: JetStreamContext, stream: str) -> list[Msg]:
    """Every message the stream holds, oldest first."""
    state = (await js.stream_info(stream)).state
    if state.messages == 0:
        return []
    return [await js.get_msg(stream, seq) for seq in range(state.first_seq, state.last_seq + 1)]


async def wait_for_messages(
    js: JetStreamContext, stream: str, count: int, timeout: float = 10.0
) -> list[Msg]:
    async def enough() -> list[Msg] | None:
        messages = await stream_messages(js, stream)
        return messages if len(messages) >= count else None

    return await eventually(enough, timeout=timeout, message=f"{count} messages on {stream}")


async def consumer_bound(js: JetStreamContext, stream: str, durable: str) -> None:
    """Wait until a service has declared its stream and bound its durable consumer: readiness
    does not cover NATS (svc-todo takes writes while NATS is away)."""

    async def bound() -> bool:
        return bool(await js.consumer_info(stream, durable))

    await eventually(bound, timeout=20, message=f"consumer {durable} on {stream}")
