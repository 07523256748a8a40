"""The operational HTTP surface every service offers, on svc-wikipedia's framework-free app:
health, readiness, metrics per route, the contract's error shape, OpenAPI; and a cold path over
HTTP that imports no web framework, database layer, FastStream or NATS consumer."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

PING = {
    "ce-specversion": "1.0",
    "ce-id": "surface-1",
    "ce-type": "dev.knative.sources.ping",
    "ce-source": "/tests",
}


async def test_health_and_readiness(client: Any) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}


@pytest.mark.parametrize(
    ("method", "path", "status", "detail"),
    [
        ("GET", "/nowhere", 404, "Not Found"),
        ("GET", "/", 405, "Method Not Allowed"),
        ("POST", "/healthz", 405, "Method Not Allowed"),
    ],
)
async def test_unrouted_requests_get_the_contracts_error_shape(
    client: Any, method: str, path: str, status: int, detail: str
) -> None:
    response = await client.request(method, path)

    assert response.status_code == status
    assert response.json() == {"status_code": status, "error": "http_error", "detail": detail}
    if status == 405:
        assert response.headers["Allow"]


async def test_an_oversized_event_is_413(client: Any) -> None:
    response = await client.post("/", headers=PING, content=b"x" * (17 * 1024))

    assert response.status_code == 413
    assert response.json()["error"] == "http_error"


async def test_metrics_count_the_trigger_by_route_and_status(client: Any, wikipedia: Any) -> None:
    assert (await client.post("/", headers=PING)).status_code == 202
    assert (await client.post("/", headers={"ce-specversion": "1.0"})).status_code == 400
    await client.get("/nowhere")

    metrics = (await client.get("/metrics")).text

    for status in (202, 400):
        assert (
            f'http_requests_total{{app_name="svc-wikipedia",method="POST",path="/",'
            f'status_code="{status}"}}'
        ) in metrics
    assert 'path="/nowhere"' not in metrics
    assert 'path="/healthz"' not in metrics
    assert "wikipedia_suggestions_total" in metrics


async def test_openapi_describes_the_trigger(client: Any) -> None:
    document = (await client.get("/schema/openapi.json")).json()

    assert document["openapi"].startswith("3.")
    assert set(document["paths"]["/"]["post"]["responses"]) == {"202", "400", "503"}


COLD_PATH = """
import json, sys
from svc_wikipedia.main import main  # noqa: F401  (the console entry's own imports)
from svc_wikipedia.app import create_app
from svc_wikipedia.settings import WikipediaSettings
create_app(WikipediaSettings(consume_nats_requests=False, suggest_every_minutes=0))
print(json.dumps(sorted(sys.modules)))
"""
"""Imports what `svc-wikipedia` imports to serve its HTTP trigger (the Knative function) and
lists the modules loaded."""


def cold_path() -> set[str]:
    result = subprocess.run(
        [sys.executable, "-c", COLD_PATH], capture_output=True, text=True, check=True, timeout=60
    )
    return set(json.loads(result.stdout))


def test_the_cold_http_path_imports_no_framework_database_http_library_or_pydantic() -> None:
    loaded = cold_path()

    for heavy in (
        "litestar",
        "piccolo",
        "asyncpg",
        "faststream",
        "opentelemetry.sdk",
        "shared_runtime.database",
        "shared_runtime.web",
        "svc_wikipedia.consumer",
        "httpx",  # only `fetch-page` downloads pages with it
        "pydantic",  # settings and contracts are msgspec: its import and models cost tens of ms
    ):
        assert heavy not in loaded, heavy
