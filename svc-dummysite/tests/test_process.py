"""`svc-dummysite` as a process: configured by the environment, JSON logs, probes and metrics
answer, and SIGTERM stops it cleanly."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import httpx

from shared_testkit.polling import eventually
from shared_testkit.ports import free_port

COMMAND = Path(sys.executable).parent / "svc-dummysite"


async def test_the_command_serves_probes_and_metrics_and_stops_on_sigterm(
    kubernetes: Any, internet: Any, wait_for_phase: Any
) -> None:
    port, metrics_port = free_port(), free_port()
    environment = {
        **os.environ,
        "PORT": str(port),
        "METRICS_PORT": str(metrics_port),
        "KUBERNETES_API_URL": kubernetes.url,
        "LOG_LEVEL": "INFO",
    }
    process = await asyncio.create_subprocess_exec(
        str(COMMAND), env=environment, stdout=asyncio.subprocess.PIPE
    )
    try:
        await kubernetes.create_site("example", internet.html("/", "<p>hello</p>"))
        await wait_for_phase(kubernetes, "example", "Ready")
        async with httpx.AsyncClient() as client:

            async def live() -> bool:
                return (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200

            await eventually(live, message="liveness endpoint")
            metrics = (await client.get(f"http://127.0.0.1:{metrics_port}/metrics")).text
        assert 'dummysite_reconciliations_total{outcome="ready",trigger="create"} 1.0' in metrics
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 0
    logs = [json.loads(line) for line in output.decode().splitlines() if line.strip()]
    assert logs
    assert all(entry["service"] == "svc-dummysite" for entry in logs)
