"""Run by test_tracing.py in a fresh interpreter (the tracer provider is process-wide): a service
app configured as `main` would configure it, one request, the JSON log lines on stdout.

    python trace_probe.py OTLP_ENDPOINT|- TRACEPARENT|-
"""

from __future__ import annotations

import logging
import sys

from litestar import get
from litestar.testing import TestClient

from shared_runtime.settings import ServiceSettings
from shared_runtime.telemetry import configure_observability, current_traceparent, shutdown_tracing
from shared_runtime.web import service_app

endpoint, traceparent = (None if arg == "-" else arg for arg in sys.argv[1:3])


@get("/work", sync_to_thread=False)
def work() -> dict[str, str | None]:
    logging.getLogger("probe").info("working")
    return {"traceparent": current_traceparent()}


configure_observability("svc-probe", ServiceSettings(otel_exporter_otlp_endpoint=endpoint))
with TestClient(service_app(service="svc-probe", route_handlers=[work])) as client:
    response = client.get("/work", headers={"traceparent": traceparent} if traceparent else {})
    logging.getLogger("probe").info("answered", extra={"body": response.json()})
shutdown_tracing()
