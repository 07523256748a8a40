"""The counter in one process: numbering, totals, metrics, and a database that is not there."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from shared_testkit.polling import eventually
from shared_testkit.ports import free_port
from shared_testkit.postgres import drop_database, with_database
from svc_pingpong.app import create_app
from svc_pingpong.settings import PingpongSettings


def pongs_served(metrics_text: str) -> float:
    line = next(x for x in metrics_text.splitlines() if x.startswith("pingpong_pongs_total "))
    return float(line.split()[1])


async def until_ready(client: AsyncTestClient) -> None:  # type: ignore[type-arg]
    async def ready() -> bool:
        return (await client.get("/readyz")).status_code == 200

    await eventually(ready, message="pingpong ready")


@pytest.fixture
async def client(database_env: dict[str, str]) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    settings = PingpongSettings.from_environment(
        **{name.lower(): value for name, value in database_env.items()}
    )
    async with AsyncTestClient(create_app(settings)) as client:
        await until_ready(client)
        yield client


async def test_pongs_count_up_from_zero_and_pings_reports_the_total(
    client: AsyncTestClient,  # type: ignore[type-arg]
) -> None:
    served_before = pongs_served((await client.get("/metrics")).text)
    assert (await client.get("/pings")).json() == {"pings": 0}

    first = await client.get("/pingpong")
    second = await client.get("/pingpong")

    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/plain")
    assert (first.text, second.text) == ("pong 0", "pong 1")
    assert (await client.get("/pings")).json() == {"pings": 2}
    assert pongs_served((await client.get("/metrics")).text) == served_before + 2


async def test_unreachable_database_makes_it_unready_but_alive() -> None:
    closed_port = free_port()
    settings = PingpongSettings(
        database_url=f"postgresql://postgres:wrong@127.0.0.1:{closed_port}/pingpong"
    )
    async with AsyncTestClient(create_app(settings)) as client:

        async def unready_with_reason() -> dict[str, object] | None:
            response = await client.get("/readyz")
            body: dict[str, object] = response.json()
            refused = response.status_code == 503 and "ConnectionRefused" in str(body)
            return body if refused else None

        body = await eventually(unready_with_reason, message="503 naming the database")
        assert "database unavailable" in str(body["reasons"])
        assert (await client.get("/healthz")).status_code == 200
        pong = await client.get("/pingpong")
        assert pong.status_code == 503
        assert "database unavailable" in pong.json()["detail"]
        assert (await client.get("/pings")).status_code == 503


@pytest.fixture
async def database_created_later(postgres_admin_url: str) -> AsyncIterator[str]:
    """The URL of a database that does not exist yet; the test creates it."""
    url = with_database(postgres_admin_url, f"pingpong_late_{uuid.uuid4().hex[:12]}")
    yield url
    await drop_database(postgres_admin_url, url)


async def test_becomes_ready_once_its_database_appears(
    postgres_admin_url: str, database_created_later: str
) -> None:
    """A database that comes up after the service (first deploy, restore) is picked up."""
    settings = PingpongSettings(database_url=database_created_later, database_retry_max_seconds=0.2)
    async with AsyncTestClient(create_app(settings)) as client:
        assert (await client.get("/readyz")).status_code == 503
        admin = await asyncpg.connect(postgres_admin_url)
        try:
            name = database_created_later.rsplit("/", 1)[1]
            await admin.execute(f'CREATE DATABASE "{name}"')
        finally:
            await admin.close()

        await until_ready(client)
        assert (await client.get("/pingpong")).text == "pong 0"
