"""`svc-todo`: configured only by environment variables (see settings.py)."""

from __future__ import annotations

from collections.abc import Sequence

from shared_runtime.cli import service_parser
from shared_runtime.telemetry import configure_observability
from shared_runtime.web import serve
from svc_todo.app import create_app
from svc_todo.settings import SERVICE, TodoSettings

DESCRIPTION = "The todo service: REST API, HTML page with the hourly image, and the event outbox."


def main(argv: Sequence[str] | None = None) -> None:
    service_parser(SERVICE, DESCRIPTION, TodoSettings).parse_args(argv)
    settings = TodoSettings()
    configure_observability(SERVICE, settings)
    app = create_app(settings)
    serve(app, settings, on_signal=[app.state.live.close])


if __name__ == "__main__":
    main()
