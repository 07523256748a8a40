"""`svc-logoutput` console command: configuration comes only from the environment."""

from __future__ import annotations

from collections.abc import Sequence

from shared_runtime.cli import service_parser, settings_from_environment
from shared_runtime.collector import pause_during_start
from shared_runtime.imports import skip_pydantic
from shared_runtime.telemetry import configure_observability
from shared_runtime.web import serve
from svc_logoutput.app import create_app
from svc_logoutput.settings import LogOutputSettings

SERVICE = "svc-logoutput"
DESCRIPTION = (
    "Logs a timestamped id every few seconds; its page adds a file, MESSAGE, pongs and a greeting."
)


def main(argv: Sequence[str] | None = None) -> None:
    service_parser(SERVICE, DESCRIPTION, LogOutputSettings).parse_args(argv)
    settings = settings_from_environment(SERVICE, LogOutputSettings)
    skip_pydantic()
    configure_observability(SERVICE, settings)
    pause_during_start()
    serve(create_app(settings), settings)
