"""JSON log lines, with the trace id when a span is active."""

from __future__ import annotations

import json
import logging
import sys

from opentelemetry.sdk.trace import TracerProvider

from shared_runtime.logging import JsonFormatter


def test_a_log_line_is_json_with_the_trace_id_and_extra_fields() -> None:
    tracer = TracerProvider().get_tracer("test")
    formatter = JsonFormatter("svc-test")
    record = logging.makeLogRecord(
        {
            "msg": "todo %s",
            "args": ("created",),
            "levelname": "INFO",
            "name": "svc",
            "todo_id": "42",
        }
    )

    with tracer.start_as_current_span("request") as span:
        line = json.loads(formatter.format(record))

    assert line["message"] == "todo created"
    assert line["service"] == "svc-test"
    assert line["level"] == "info"
    assert line["todo_id"] == "42"
    assert line["trace_id"] == format(span.get_span_context().trace_id, "032x")


def test_without_a_span_there_is_no_trace_id() -> None:
    line = json.loads(JsonFormatter("svc").format(logging.makeLogRecord({"msg": "plain"})))
    assert "trace_id" not in line


def test_exceptions_are_kept_in_one_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    line = JsonFormatter("svc").format(record)
    assert "\n" not in line
    assert "ValueError: boom" in json.loads(line)["exception"]
