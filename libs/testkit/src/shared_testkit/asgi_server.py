"""Serve an ASGI app on a real port inside the test's event loop.

Litestar's test clients run the app's lifespan on another event loop; asyncpg pools and NATS
connections are bound to the loop that made them, so integration tests serve the app here
instead and talk to it over real HTTP.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import uvicorn

from shared_testkit.polling import eventually
from shared_testkit.ports import free_port


@asynccontextmanager
async def serve_app(app: Any, *, ready_path: str = "/readyz") -> AsyncIterator[httpx.AsyncClient]:
    """Start `app` under uvicorn, wait until `ready_path` answers 200, yield a client for it."""
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:

        async def ready() -> bool:
            if serving.done():
                serving.result()
            return (await client.get(ready_path)).status_code == 200

        try:
            await eventually(ready, timeout=30, message=f"app on {port} ready")
            yield client
        finally:
            server.should_exit = True
            await serving
