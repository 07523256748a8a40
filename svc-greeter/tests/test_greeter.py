"""svc-greeter: the greeting per version, its metric, health, and the real console command."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from litestar.testing import AsyncTestClient

from shared_runtime.settings import InvalidSettings
from shared_testkit.processes import ServiceProcess
from svc_greeter.app import create_app
from svc_greeter.settings import GreeterSettings


def greetings_counted(metrics_text: str, version: str) -> float:
    prefix = f'greeter_greetings_total{{version="{version}"}} '
    lines = [line for line in metrics_text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (GreeterSettings(), {"greeting": "Hello", "version": "v1"}),
        (GreeterSettings(greeter_version="v2"), {"greeting": "Howdy", "version": "v2"}),
        (
            GreeterSettings(greeter_version="v2", greeting="Hello from v2"),
            {"greeting": "Hello from v2", "version": "v2"},
        ),
    ],
    ids=["v1 says its own greeting", "v2 says its own greeting", "GREETING replaces it"],
)
async def test_greets_with_the_configured_version(
    settings: GreeterSettings, expected: dict[str, str]
) -> None:
    async with AsyncTestClient(create_app(settings)) as client:
        before = greetings_counted((await client.get("/metrics")).text, expected["version"])

        response = await client.get("/")

        assert response.status_code == 200
        assert response.json() == expected
        after = greetings_counted((await client.get("/metrics")).text, expected["version"])
        assert after == before + 1


async def test_is_live_and_ready_without_dependencies() -> None:
    async with AsyncTestClient(create_app(GreeterSettings())) as client:
        assert (await client.get("/healthz")).status_code == 200
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready"}


def test_refuses_an_unknown_version(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GREETER_VERSION", "v3")
    with pytest.raises(InvalidSettings, match=r"^GREETER_VERSION: "):
        GreeterSettings.from_environment()


def test_console_command_reads_port_version_and_greeting_from_env(tmp_path: Path) -> None:
    """The real command, which runs without pydantic (marked absent in its main)."""
    greeter = ServiceProcess(
        "svc-greeter", {"GREETER_VERSION": "v2", "GREETING": "Hi there"}, tmp_path
    )
    greeter.start(wait_for="/readyz")
    try:
        response = httpx.get(greeter.url + "/", timeout=2)
        assert response.json() == {"greeting": "Hi there", "version": "v2"}
        metrics = httpx.get(greeter.url + "/metrics", timeout=2).text
        assert greetings_counted(metrics, "v2") == 1
        schema = httpx.get(greeter.url + "/schema/openapi.json", timeout=2).json()
        assert set(schema["components"]["schemas"]["Greeting"]["required"]) == {
            "greeting",
            "version",
        }
    finally:
        greeter.stop()
    assert '"level": "info"' in greeter.logs()
