"""`svc-pingpong` console command: configuration comes only from the environment."""

from __future__ import annotations

from shared_runtime.logging import configure_logging
from shared_runtime.telemetry import configure_tracing
from shared_runtime.web import serve
from svc_pingpong.app import create_app
from svc_pingpong.settings import PingpongSettings


def main() -> None:
    settings = PingpongSettings()
    configure_logging("svc-pingpong", settings.log_level)
    configure_tracing(
        settings.otel_service_name or "svc-pingpong", settings.otel_exporter_otlp_endpoint
    )
    serve(create_app(settings), settings)
