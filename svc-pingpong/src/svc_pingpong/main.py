"""`svc-pingpong` console command: configuration comes only from the environment."""

from __future__ import annotations

from shared_runtime.telemetry import configure_observability
from shared_runtime.web import serve
from svc_pingpong.app import create_app
from svc_pingpong.settings import PingpongSettings


def main() -> None:
    settings = PingpongSettings()
    configure_observability("svc-pingpong", settings)
    serve(create_app(settings), settings)
