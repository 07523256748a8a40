"""`svc-todo`: configured only by environment variables (see settings.py)."""

from __future__ import annotations

from shared_runtime.logging import configure_logging
from shared_runtime.telemetry import configure_tracing
from shared_runtime.web import serve
from svc_todo.app import create_app
from svc_todo.settings import SERVICE, TodoSettings


def main() -> None:
    settings = TodoSettings()
    configure_logging(SERVICE, settings.log_level)
    configure_tracing(SERVICE, settings.otel_exporter_otlp_endpoint)
    app = create_app(settings)
    serve(app, settings, on_signal=[app.state.live.close])


if __name__ == "__main__":
    main()
