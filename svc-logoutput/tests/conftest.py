from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import pytest

from shared_testkit.ports import free_port
from shared_testkit.processes import ServiceProcess


@pytest.fixture(scope="module")
def greeter(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    process = ServiceProcess(
        "svc-greeter",
        {"GREETING": "Hello from the mesh", "GREETER_VERSION": "v1"},
        tmp_path_factory.mktemp("greeter"),
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def pingpong(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    directory = tmp_path_factory.mktemp("pingpong")
    process = ServiceProcess(
        "svc-pingpong", {"DATABASE_URL": "", "DATA_DIR": str(directory / "data")}, directory
    )
    process.start()
    yield process
    process.stop()


@pytest.fixture
def down_url() -> str:
    """A port nothing listens on: the dependency is down."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
async def silent_url() -> AsyncIterator[str]:
    """Accepts connections and never answers: the dependency hangs."""

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()
        writer.close()

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    server.close()
