"""svc-greeter configuration: the contract's environment names, typed, read once in `main`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared_runtime.settings import ServiceSettings

Version = Literal["v1", "v2"]

GREETINGS: dict[Version, str] = {"v1": "Hello", "v2": "Howdy"}
"""Each version's own greeting, decided here only: `make up`, compose and Kubernetes use it."""


class GreeterSettings(ServiceSettings):
    port: int = Field(default=8003, ge=0, le=65535)
    greeter_version: Version = "v1"
    greeting: str | None = Field(
        default=None,
        min_length=1,
        description="Replaces the version's own greeting (v1: Hello, v2: Howdy)",
    )

    @property
    def version_greeting(self) -> str:
        return self.greeting or GREETINGS[self.greeter_version]
