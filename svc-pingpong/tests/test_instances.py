"""Several real `svc-pingpong` processes sharing one database, as Knative scales it (the
command runs without pydantic, marked absent in its main)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from shared_testkit.processes import ServiceProcess

REQUESTS = 1000
IN_FLIGHT = 200
"""Requests open at once: enough to contend, few enough that httpx's own pool does not queue."""


@pytest.fixture
async def two_instances(
    database_env: dict[str, str], tmp_path: Path
) -> AsyncIterator[list[ServiceProcess]]:
    """Started together, so they also race to migrate the same empty database."""
    instances = [ServiceProcess("svc-pingpong", database_env, tmp_path) for _ in range(2)]
    try:
        await asyncio.gather(*(asyncio.to_thread(x.start, wait_for="/readyz") for x in instances))
        yield instances
    finally:
        for instance in instances:
            instance.stop()


async def test_concurrent_pongs_across_instances_are_numbered_once_and_survive_restarts(
    two_instances: list[ServiceProcess],
) -> None:
    in_flight = asyncio.Semaphore(IN_FLIGHT)

    async def ping(client: httpx.AsyncClient, instance: ServiceProcess) -> httpx.Response:
        async with in_flight:
            return await client.get(instance.url + "/pingpong")

    # A connection per request: no race with the server closing an idle keep-alive socket.
    limits = httpx.Limits(max_connections=IN_FLIGHT, max_keepalive_connections=0)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        responses = await asyncio.gather(
            *(ping(client, two_instances[i % 2]) for i in range(REQUESTS))
        )
        totals = [(await client.get(x.url + "/pings")).json() for x in two_instances]

    assert [r.text for r in responses if r.status_code != 200] == []
    numbers = sorted(int(r.text.removeprefix("pong ")) for r in responses)
    assert numbers == list(range(REQUESTS))
    assert totals == [{"pings": REQUESTS}, {"pings": REQUESTS}]

    for instance in two_instances:
        instance.stop()
    restarted = two_instances[0]
    restarted.start()
    async with httpx.AsyncClient(base_url=restarted.url) as client:
        assert (await client.get("/pings")).json() == {"pings": REQUESTS}
        assert (await client.get("/pingpong")).text == f"pong {REQUESTS}"
        assert "pingpong_pongs_total" in (await client.get("/metrics")).text
        schema = (await client.get("/schema/openapi.json")).json()
        assert {"/pingpong", "/pings"} <= set(schema["paths"])
