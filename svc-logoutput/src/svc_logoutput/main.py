"""`svc-logoutput` console command: configuration comes only from the environment."""

from __future__ import annotations

from shared_runtime.telemetry import configure_observability
from shared_runtime.web import serve
from svc_logoutput.app import create_app
from svc_logoutput.settings import LogOutputSettings


def main() -> None:
    settings = LogOutputSettings()
    configure_observability("svc-logoutput", settings)
    serve(create_app(settings), settings)
