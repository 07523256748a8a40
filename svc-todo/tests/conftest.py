from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from shared_testkit.polling import eventually
from shared_testkit.ports import free_port
from svc_todo.app import create_app
from svc_todo.settings import TodoSettings


@pytest.fixture
def settings(tmp_path: Path) -> TodoSettings:
    """SQLite in a temporary directory; NATS deliberately absent (writes must still work)."""
    return TodoSettings(
        data_dir=tmp_path,
        nats_url=f"nats://127.0.0.1:{free_port()}",
        image_source_url=f"http://127.0.0.1:{free_port()}/image",
    )


@pytest.fixture
async def client(settings: TodoSettings) -> AsyncIterator[AsyncTestClient]:  # type: ignore[type-arg]
    async with AsyncTestClient(create_app(settings)) as client:
        await eventually(lambda: _ready(client), message="svc-todo ready")
        yield client


async def _ready(client: AsyncTestClient) -> bool:  # type: ignore[type-arg]
    return (await client.get("/readyz")).status_code == 200
