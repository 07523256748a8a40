"""svc-greeter configuration: the contract's environment names, typed, read once in `main`."""

from __future__ import annotations

from typing import Annotated, Literal

from msgspec import Meta

from shared_runtime.settings import Port, ServiceSettings

Version = Literal["v1", "v2"]

GREETINGS: dict[Version, str] = {"v1": "Hello", "v2": "Howdy"}
"""Each version's own greeting, decided here only: `make up`, compose and Kubernetes use it."""


class GreeterSettings(ServiceSettings, frozen=True):
    port: Port = 8003
    greeter_version: Version = "v1"
    greeting: (
        Annotated[
            str,
            Meta(
                min_length=1,
                description="Replaces the version's own greeting (v1: Hello, v2: Howdy)",
            ),
        ]
        | None
    ) = None

    @property
    def version_greeting(self) -> str:
        return self.greeting or GREETINGS[self.greeter_version]
