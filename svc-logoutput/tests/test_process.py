"""The real `svc-logoutput` command: heartbeat in JSON logs, same id as the page, env honoured."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from shared_testkit.polling import wait_until
from shared_testkit.processes import ServiceProcess


def heartbeats(logs: str) -> list[str]:
    entries = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    return [e["message"] for e in entries if e["logger"] == "svc_logoutput.heartbeat"]


def test_logs_a_timestamp_and_its_process_id_on_every_beat(
    tmp_path: Path, pingpong: ServiceProcess, greeter: ServiceProcess
) -> None:
    logoutput = ServiceProcess(
        "svc-logoutput",
        {
            "PINGPONG_URL": pingpong.url,
            "GREETER_URL": greeter.url,
            "MESSAGE": "from the environment",
            "HEARTBEAT_SECONDS": "0.1",
        },
        tmp_path,
    )
    logoutput.start()
    try:
        beats = wait_until(
            lambda: (found := heartbeats(logoutput.logs()))[2:] and found,
            message="three heartbeats logged",
        )
        page = httpx.get(logoutput.url + "/", timeout=5).text
    finally:
        logoutput.stop()

    ids = {beat.split(": ", 1)[1] for beat in beats}
    assert len(ids) == 1
    assert page.splitlines()[2].endswith(f": {ids.pop()}")
    assert "env variable: MESSAGE=from the environment" in page
