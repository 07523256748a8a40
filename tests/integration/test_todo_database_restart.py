"""PostgreSQL restarting under a steady write load, or frozen: writes answer 503 within their
deadline and recover without a restart of svc-todo; every accepted todo is stored and published
exactly once, and nothing answered 503 commits later."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest
from nats.js import JetStreamContext

from shared_runtime.database import QUERY_TIMEOUT_SECONDS, Deadline
from shared_testkit.asgi_server import serve_app
from shared_testkit.polling import eventually
from shared_testkit.postgres import ThrowawayCluster, create_database
from svc_todo.app import create_app
from svc_todo.settings import TodoSettings

pytestmark = pytest.mark.integration

WRITERS = 4


@pytest.fixture
def restartable_postgres() -> Iterator[ThrowawayCluster]:
    """A private cluster this test may restart (the shared test server must stay up)."""
    if not ThrowawayCluster.available():
        pytest.skip("initdb and pg_ctl are needed to restart PostgreSQL under load")
    cluster = ThrowawayCluster()
    cluster.start()
    yield cluster
    cluster.stop()


async def test_writes_survive_a_postgres_restart_with_nothing_lost_or_doubled(
    restartable_postgres: ThrowawayCluster,
    nats_url: str,
    jetstream: JetStreamContext,
    tmp_path: Path,
) -> None:
    database_url = await create_database(restartable_postgres.admin_url)
    settings = TodoSettings(
        database_url=database_url,
        nats_url=nats_url,
        data_dir=tmp_path / "todo",
        image_source_url="http://127.0.0.1:9/unreachable",
        outbox_sweep_seconds=0.5,
    )
    statuses: Counter[int] = Counter()
    accepted: list[str] = []
    writing = True

    async def writer(client: httpx.AsyncClient, number: int) -> None:
        sent = 0
        while writing:
            response = await client.post("/api/todos", json={"text": f"writer {number} #{sent}"})
            statuses[response.status_code] += 1
            if response.status_code == 201:
                accepted.append(response.json()["id"])
            else:
                assert response.status_code == 503, response.text
                assert response.headers["Retry-After"]
            sent += 1
            await asyncio.sleep(0.02)  # a steady load, not a synchronisation

    async with serve_app(create_app(settings)) as client:
        writers = [asyncio.create_task(writer(client, n)) for n in range(WRITERS)]
        try:
            await eventually(lambda: _at_least(accepted, 50), timeout=30)
            await asyncio.to_thread(restartable_postgres.restart)
            after_restart = len(accepted) + 50
            await eventually(lambda: _at_least(accepted, after_restart), timeout=30)
        finally:
            writing = False
            await asyncio.gather(*writers)

        async def all_published() -> bool:
            stored = (await jetstream.stream_info("TODOS")).state.messages
            return stored >= len(accepted)

        await eventually(all_published, timeout=30)

    stored = await _stored(settings, "id")
    published = Counter(await _published_ids(jetstream))
    assert set(accepted) <= stored, "an accepted todo was lost"
    assert set(published) == stored, "the stream and the database disagree"
    assert set(published.values()) == {1}, "an event was published twice"
    print(f"statuses during the restart: {dict(statuses)}")


async def _at_least(items: list[str], count: int) -> bool:
    return len(items) >= count


async def _published_ids(js: JetStreamContext) -> list[str]:
    """The todo id of every event on TODOS, read with one ordered consumer."""
    total = (await js.stream_info("TODOS")).state.messages
    ids: list[str] = []
    subscription = await js.subscribe("todos.events.>", ordered_consumer=True)
    while len(ids) < total:
        message = await subscription.next_msg(timeout=5)
        ids.append(json.loads(message.data)["id"])
    await subscription.unsubscribe()
    return ids


async def test_a_frozen_postgres_gets_a_503_within_the_deadline_and_nothing_half_done(
    restartable_postgres: ThrowawayCluster, nats_url: str, tmp_path: Path
) -> None:
    settings = await _settings(restartable_postgres, nats_url, tmp_path)
    async with serve_app(create_app(settings)) as client:
        assert (await client.post("/api/todos", json={"text": "before"})).status_code == 201
        with _frozen(restartable_postgres):
            started = time.monotonic()
            response = await client.post("/api/todos", json={"text": "while frozen"}, timeout=30)
            waited = time.monotonic() - started
        assert response.status_code == 503
        assert response.headers["Retry-After"]
        # The statement deadline, plus the slack of a busy machine; not twice the deadline.
        assert waited < QUERY_TIMEOUT_SECONDS + 3, f"answered after {waited:.1f} s"

        async def writes_again() -> bool:
            answer = await client.post("/api/todos", json={"text": "after"})
            return answer.status_code == 201

        await eventually(writes_again, timeout=30)

    texts = await _stored(settings, "text")
    assert "while frozen" not in texts, "a request answered 503 committed later"
    assert {"before", "after"} <= texts


async def test_a_write_the_server_runs_past_its_deadline_answers_503_and_creates_nothing(
    restartable_postgres: ThrowawayCluster, nats_url: str, tmp_path: Path
) -> None:
    """Frozen for longer than the write's deadline, shorter than the statement timeout: the
    statement runs late while svc-todo still waits for it, and must do nothing."""
    settings = await _settings(restartable_postgres, nats_url, tmp_path)
    async with serve_app(create_app(settings)) as client:
        assert (await client.post("/api/todos", json={"text": "before"})).status_code == 201
        with _frozen(restartable_postgres):
            late = asyncio.create_task(client.post("/api/todos", json={"text": "late"}, timeout=30))
            # The scenario: resume between the deadline and the statement timeout.
            await asyncio.sleep(QUERY_TIMEOUT_SECONDS - Deadline.MARGIN.total_seconds() / 2)
        response = await late

    assert response.status_code == 503
    assert await _stored(settings, "text") == {"before"}


@contextmanager
def _frozen(cluster: ThrowawayCluster) -> Iterator[None]:
    """The whole server stopped (SIGSTOP) until the block ends: it answers nothing, and what
    reached its sockets meanwhile runs when it resumes."""
    processes = _postgres_processes(cluster)
    for pid in processes:
        os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for pid in processes:
            os.kill(pid, signal.SIGCONT)


def _postgres_processes(cluster: ThrowawayCluster) -> list[int]:
    """The postmaster and every backend of this cluster (a frozen server freezes them all)."""
    postmaster = int((cluster.directory / "data" / "postmaster.pid").read_text().split()[0])
    children = subprocess.run(
        ["pgrep", "-P", str(postmaster)], capture_output=True, text=True, check=False
    ).stdout.split()
    return [postmaster, *map(int, children)]


async def _settings(cluster: ThrowawayCluster, nats_url: str, tmp_path: Path) -> TodoSettings:
    return TodoSettings(
        database_url=await create_database(cluster.admin_url),
        nats_url=nats_url,
        data_dir=tmp_path / "todo",
        image_source_url="http://127.0.0.1:9/unreachable",
        outbox_sweep_seconds=0.5,
    )


async def _stored(settings: TodoSettings, column: str) -> set[str]:
    """One column of every stored todo, read straight from the database."""
    assert settings.database_url is not None
    connection = await asyncpg.connect(settings.database_url)
    try:
        return {str(row[0]) for row in await connection.fetch(f"SELECT {column} FROM todo")}
    finally:
        await connection.close()
