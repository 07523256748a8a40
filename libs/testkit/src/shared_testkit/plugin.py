"""Pytest fixtures for real infrastructure, and the CI rule that a skipped test is a failure."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from shared_testkit import containers, postgres
from shared_testkit.nats_server import NatsServer
from shared_testkit.webhook_sink import WebhookSink

CONTAINER_ONLY = "testcontainers provider"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: Any = outcome.get_result()  # type: ignore[attr-defined]
    if not (os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail")):
        return
    reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
    if CONTAINER_ONLY not in reason:
        report.outcome = "failed"
        report.longrepr = f"skipped on CI, which counts as a failure: {reason}"


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A server where tests may create databases, from the first provider that is available."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
    elif containers.docker_available():
        container, url = containers.start_postgres()
        yield url
        container.stop()
    elif postgres.ThrowawayCluster.available():
        cluster = postgres.ThrowawayCluster()
        yield cluster.start()
        cluster.stop()
    else:
        pytest.skip("no PostgreSQL: set TEST_DATABASE_URL or put initdb/pg_ctl on PATH")


@pytest.fixture
async def database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    url = await postgres.create_database(postgres_admin_url)
    yield url
    await postgres.drop_database(postgres_admin_url, url)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A private nats-server with JetStream that the test may stop, kill and restart."""
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    yield server
    server.stop(kill=True)


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """A local stand-in for a chat webhook that records calls and answers as the test says."""
    with WebhookSink() as sink:
        yield sink
