"""`svc-greeter` console command: configuration comes only from the environment."""

from __future__ import annotations

from shared_runtime.telemetry import configure_observability
from shared_runtime.web import serve
from svc_greeter.app import create_app
from svc_greeter.settings import GreeterSettings


def main() -> None:
    settings = GreeterSettings()
    configure_observability(f"svc-greeter-{settings.greeter_version}", settings)
    serve(create_app(settings), settings)
