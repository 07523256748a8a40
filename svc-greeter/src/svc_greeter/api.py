"""The greeting route."""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from msgspec import Struct

from svc_greeter.metrics import GREETINGS
from svc_greeter.settings import GreeterSettings


class Greeting(Struct):
    greeting: str
    version: str


@get("/", sync_to_thread=False)
def greet(settings: NamedDependency[GreeterSettings]) -> Greeting:
    GREETINGS.labels(version=settings.greeter_version).inc()
    return Greeting(greeting=settings.version_greeting, version=settings.greeter_version)
