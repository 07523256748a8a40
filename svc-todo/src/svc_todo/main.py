"""`svc-todo`: configured only by environment variables (see settings.py)."""

from __future__ import annotations

from collections.abc import Sequence

from shared_runtime.cli import service_parser, settings_from_environment
from shared_runtime.collector import pause_during_start
from shared_runtime.imports import skip_postgres_driver, skip_pydantic, skip_unused_imports
from shared_runtime.telemetry import configure_observability
from svc_todo.settings import SERVICE, TodoSettings

DESCRIPTION = "The todo service: REST API, HTML page with the hourly image, and the event outbox."


def main(argv: Sequence[str] | None = None) -> None:
    service_parser(SERVICE, DESCRIPTION, TodoSettings).parse_args(argv)
    settings = settings_from_environment(SERVICE, TodoSettings)
    skip_unused_imports(settings.nats_url)
    skip_pydantic()
    if not settings.database_url:
        skip_postgres_driver()
    configure_observability(SERVICE, settings)
    pause_during_start()
    # Loaded only now, once the unused optional imports above are marked absent.
    from shared_runtime.web import serve
    from svc_todo.app import create_app

    app = create_app(settings)
    serve(app, settings, on_signal=[app.state.live.close])


if __name__ == "__main__":
    main()
