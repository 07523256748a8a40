"""Trace ids reach the logs and outgoing messages with and without an OTLP exporter; spans are
exported only with one. Each case runs in its own interpreter: the tracer provider is global."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared_testkit.fake_http import FakeHttpServer, Recorded, Reply

PROBE = Path(__file__).with_name("trace_probe.py")
CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CALLER_TRACE_ID = CALLER.split("-")[1]


def run_probe(endpoint: str | None, traceparent: str | None) -> list[dict[str, Any]]:
    result = subprocess.run(
        [sys.executable, str(PROBE), endpoint or "-", traceparent or "-"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]


def by_message(lines: list[dict[str, Any]], message: str) -> dict[str, Any]:
    return next(line for line in lines if line["message"] == message)


@pytest.fixture
def collector() -> Any:
    def accept(request: Recorded) -> Reply:
        return Reply(status=200, headers={"Content-Type": "application/x-protobuf"})

    with FakeHttpServer(accept) as server:
        yield server


@pytest.mark.parametrize("exporting", [False, True], ids=["no exporter", "OTLP exporter"])
def test_a_callers_trace_is_continued_in_logs_and_propagated(
    exporting: bool, collector: FakeHttpServer
) -> None:
    lines = run_probe(collector.url if exporting else None, CALLER)

    assert by_message(lines, "working")["trace_id"] == CALLER_TRACE_ID
    outgoing = by_message(lines, "answered")["body"]["traceparent"]
    assert outgoing.split("-")[1] == CALLER_TRACE_ID
    exported = [r for r in collector.requests if r.path == "/v1/traces"]
    assert bool(exported) is exporting
    if exporting:
        assert bytes.fromhex(CALLER_TRACE_ID) in exported[0].body


@pytest.mark.parametrize("exporting", [False, True], ids=["no exporter", "OTLP exporter"])
def test_a_request_without_a_trace_starts_one(exporting: bool, collector: FakeHttpServer) -> None:
    lines = run_probe(collector.url if exporting else None, None)

    trace_id = by_message(lines, "working")["trace_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", trace_id)
    assert trace_id != "0" * 32
    assert by_message(lines, "answered")["body"]["traceparent"].split("-")[1] == trace_id
