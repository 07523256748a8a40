"""`svc-pingpong` console command: configuration comes only from the environment."""

from __future__ import annotations

from collections.abc import Sequence

from shared_runtime.cli import service_parser, settings_from_environment
from shared_runtime.collector import pause_during_start
from shared_runtime.imports import skip_postgres_driver, skip_pydantic, skip_unused_imports
from shared_runtime.telemetry import configure_observability
from svc_pingpong.settings import PingpongSettings

SERVICE = "svc-pingpong"
DESCRIPTION = (
    "Answers GET /pingpong with `pong N`, N counted up in the database; GET /pings reads it."
)


def main(argv: Sequence[str] | None = None) -> None:
    service_parser(SERVICE, DESCRIPTION, PingpongSettings).parse_args(argv)
    settings = settings_from_environment(SERVICE, PingpongSettings)
    skip_unused_imports()
    skip_pydantic()
    if not settings.database_url:
        skip_postgres_driver()
    configure_observability(SERVICE, settings)
    pause_during_start()
    from shared_runtime.server import serve  # after the edge is set up, and not for --help
    from svc_pingpong.app import create_app

    serve(create_app(settings), settings)
