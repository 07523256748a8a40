"""`svc-greeter` console command: configuration comes only from the environment."""

from __future__ import annotations

from collections.abc import Sequence

from shared_runtime.cli import service_parser, settings_from_environment
from shared_runtime.collector import pause_during_start
from shared_runtime.imports import skip_pydantic, skip_unused_imports
from shared_runtime.telemetry import configure_observability
from svc_greeter.settings import GreeterSettings

SERVICE = "svc-greeter"
DESCRIPTION = "Answers GET / with a greeting and its version (v1 or v2, chosen by GREETER_VERSION)."


def main(argv: Sequence[str] | None = None) -> None:
    service_parser(SERVICE, DESCRIPTION, GreeterSettings).parse_args(argv)
    settings = settings_from_environment(SERVICE, GreeterSettings)
    skip_unused_imports()
    skip_pydantic()
    configure_observability(f"{SERVICE}-{settings.greeter_version}", settings)
    pause_during_start()
    from shared_runtime.server import serve  # after the edge is set up, and not for --help
    from svc_greeter.app import create_app

    serve(create_app(settings), settings)
