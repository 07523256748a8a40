"""Wires the greeter: no hard dependencies, so it is ready as soon as it serves."""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide

from shared_runtime.web import service_app
from svc_greeter.api import greet
from svc_greeter.settings import GreeterSettings


def create_app(settings: GreeterSettings) -> Litestar:
    def provide_settings() -> GreeterSettings:
        return settings

    return service_app(
        service="svc-greeter",
        route_handlers=[greet],
        dependencies={"settings": Provide(provide_settings, use_cache=True, sync_to_thread=False)},
    )
