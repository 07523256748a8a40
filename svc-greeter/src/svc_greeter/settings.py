"""svc-greeter configuration: the contract's environment names, typed, read once in `main`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared_runtime.settings import ServiceSettings


class GreeterSettings(ServiceSettings):
    port: int = Field(default=8003, ge=0, le=65535)
    greeter_version: Literal["v1", "v2"] = "v1"
    greeting: str = Field(default="Hello", min_length=1)
