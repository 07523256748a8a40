"""`svc-greeter` console command: configuration comes only from the environment."""

from __future__ import annotations

from shared_runtime.logging import configure_logging
from shared_runtime.telemetry import configure_tracing
from shared_runtime.web import serve
from svc_greeter.app import create_app
from svc_greeter.settings import GreeterSettings


def main() -> None:
    settings = GreeterSettings()
    configure_logging("svc-greeter", settings.log_level)
    configure_tracing(
        settings.otel_service_name or f"svc-greeter-{settings.greeter_version}",
        settings.otel_exporter_otlp_endpoint,
    )
    serve(create_app(settings), settings)
