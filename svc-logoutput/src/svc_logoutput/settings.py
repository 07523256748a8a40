"""svc-logoutput configuration: the contract's environment names, typed, read once in `main`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from shared_runtime.settings import ServiceSettings


class LogOutputSettings(ServiceSettings):
    port: int = Field(default=8006, ge=0, le=65535)
    message: str = ""
    info_file: Path | None = Field(
        default=None, description="A mounted file (a ConfigMap in Kubernetes) shown on the page"
    )
    pingpong_url: str = "http://127.0.0.1:8005"
    greeter_url: str = "http://127.0.0.1:8003"
    heartbeat_seconds: float = Field(default=5.0, gt=0, description="How often the id is logged")
    dependency_timeout_seconds: float = Field(
        default=1.0, gt=0, description="Per call to pingpong or greeter, so the page stays fast"
    )
