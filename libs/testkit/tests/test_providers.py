"""The fixture layer's own guarantees: real servers, isolated per test, restartable."""

from __future__ import annotations

import asyncpg
import nats
import pytest

from shared_testkit import containers, postgres
from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually


async def test_each_test_gets_its_own_empty_database(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        tables = await connection.fetchval(
            "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"
        )
    finally:
        await connection.close()
    assert tables == 0


async def test_jetstream_keeps_messages_across_a_server_restart(nats_server: NatsServer) -> None:
    client = await nats.connect(nats_server.url, max_reconnect_attempts=-1, reconnect_time_wait=0.1)
    js = client.jetstream()
    await js.add_stream(name="KEEP", subjects=["keep.>"])
    await js.publish("keep.one", b"1")
    nats_server.restart()

    async def stored() -> int:
        return (await js.stream_info("KEEP")).state.messages

    assert await eventually(stored, timeout=10) == 1
    await client.close()


@pytest.mark.skipif(
    not containers.docker_available(),
    reason="testcontainers provider: no Docker engine answers here",
)
def test_testcontainers_provider_gives_a_jetstream_server() -> None:
    container, url = containers.start_nats()
    try:
        assert url.startswith("nats://")
    finally:
        container.stop()


async def test_the_throwaway_cluster_provider_serves_and_cleans_up() -> None:
    """The local fallback when no TEST_DATABASE_URL is given: initdb/pg_ctl in a temp dir."""
    assert postgres.ThrowawayCluster.available(), "initdb and pg_ctl must be on PATH"
    cluster = postgres.ThrowawayCluster()
    admin_url = cluster.start()
    try:
        database_url = await postgres.create_database(admin_url)
        connection = await asyncpg.connect(database_url)
        assert await connection.fetchval("SELECT 1") == 1
        await connection.close()
    finally:
        cluster.stop()
    assert not cluster.directory.exists()
