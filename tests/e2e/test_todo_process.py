"""svc-todo as real processes: crashes lose nothing, SIGTERM is clean, pages update live."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from nats.js import JetStreamContext

from shared_testkit.nats_server import NatsServer
from shared_testkit.processes import ServiceProcess
from tests.conftest import stream_messages, wait_for_messages


@pytest.fixture
def todo_env(database_url: str, nats_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "NATS_URL": nats_url,
        "DATA_DIR": str(tmp_path / "data"),
        "IMAGE_SOURCE_URL": "http://127.0.0.1:9/unreachable",
        "OUTBOX_SWEEP_SECONDS": "0.5",
    }


def start_todo(env: dict[str, str], log_dir: Path, started: list[ServiceProcess]) -> ServiceProcess:
    process = ServiceProcess("svc-todo", env, log_dir)
    started.append(process)
    process.start(wait_for="/readyz", timeout=30)
    return process


async def test_kill_9_between_commit_and_publish_loses_and_duplicates_nothing(
    todo_env: dict[str, str],
    tmp_path: Path,
    processes: list[ServiceProcess],
    nats_server: NatsServer,
    jetstream: JetStreamContext,
) -> None:
    todo = start_todo(todo_env, tmp_path, processes)
    async with httpx.AsyncClient(base_url=todo.url) as client:
        first = (await client.post("/api/todos", json={"text": "published normally"})).json()
        await wait_for_messages(jetstream, "TODOS", 1)

        nats_server.stop()  # commits go on; nothing can be published
        accepted = [first["id"]]
        for n in range(10):
            response = await client.post("/api/todos", json={"text": f"unpublished {n}"})
            assert response.status_code == 201
            accepted.append(response.json()["id"])
    todo.stop(kill=True)

    nats_server.start()
    restarted = start_todo(todo_env, tmp_path, processes)
    messages = await wait_for_messages(jetstream, "TODOS", 11, timeout=30)
    async with httpx.AsyncClient(base_url=restarted.url) as client:
        listed = {t["id"] for t in (await client.get("/api/todos")).json()}

    assert listed == set(accepted)
    published = [json.loads(m.data)["id"] for m in messages]
    assert sorted(published) == sorted(accepted)
    assert len(await stream_messages(jetstream, "TODOS")) == 11


async def test_sigterm_with_an_open_live_stream_exits_cleanly_and_quickly(
    todo_env: dict[str, str], tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    todo = start_todo(todo_env, tmp_path, processes)
    async with (
        httpx.AsyncClient(base_url=todo.url, timeout=10) as client,
        client.stream("GET", "/events") as events,
    ):
        assert events.status_code == 200
        started = time.monotonic()
        process = todo.process
        assert process is not None
        process.terminate()
        try:
            code = process.wait(timeout=15)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"still running after SIGTERM: {todo.logs()[-3000:]}") from exc

    assert code in (0, -signal.SIGTERM)  # uvicorn re-raises the signal after a clean shutdown
    assert time.monotonic() - started < 10
    assert "Application shutdown complete" in todo.logs()
    assert "Traceback" not in todo.logs()


async def test_a_change_on_one_replica_reaches_pages_on_another_within_a_second(
    todo_env: dict[str, str], tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    writer = start_todo(todo_env, tmp_path, processes)
    reader = start_todo(todo_env, tmp_path, processes)
    async with (
        httpx.AsyncClient(base_url=reader.url, timeout=10) as page,
        page.stream("GET", "/events") as events,
    ):
        lines = events.aiter_lines()
        async with httpx.AsyncClient(base_url=writer.url) as client:
            sent = time.monotonic()
            await client.post("/api/todos", json={"text": "seen elsewhere"})
        received = [line async for line in _until_data(lines)]
        elapsed = time.monotonic() - sent

    assert "event: todos" in received
    assert "data: todo.created.v1" in received
    assert elapsed < 1.0


async def _until_data(lines: object) -> object:
    async for line in lines:  # type: ignore[attr-defined]
        yield line
        if line.startswith("data:"):
            return


async def test_without_an_exporter_the_event_carries_the_callers_trace(
    todo_env: dict[str, str],
    tmp_path: Path,
    processes: list[ServiceProcess],
    jetstream: JetStreamContext,
) -> None:
    """No OTLP endpoint, so no spans are made; the caller's trace still reaches consumers."""
    todo = start_todo(todo_env, tmp_path, processes)
    caller = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    async with httpx.AsyncClient(base_url=todo.url) as client:
        response = await client.post(
            "/api/todos", json={"text": "traced"}, headers={"traceparent": caller}
        )
        assert response.status_code == 201
    [message] = await wait_for_messages(jetstream, "TODOS", 1)

    assert (message.headers or {})["traceparent"].split("-")[1] == caller.split("-")[1]
