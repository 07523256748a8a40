"""svc-logoutput configuration: the contract's environment names, typed, read once in `main`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from msgspec import Meta

from shared_runtime.settings import Port, ServiceSettings


class LogOutputSettings(ServiceSettings, frozen=True):
    port: Port = 8006
    message: str = ""
    info_file: Annotated[
        Path | None,
        Meta(description="A mounted file (a ConfigMap in Kubernetes) shown on the page"),
    ] = None
    pingpong_url: str = "http://127.0.0.1:8005"
    greeter_url: str = "http://127.0.0.1:8003"
    heartbeat_seconds: Annotated[float, Meta(gt=0, description="How often the id is logged")] = 5.0
    dependency_timeout_seconds: Annotated[
        float, Meta(gt=0, description="Per call to pingpong or greeter, so the page stays fast")
    ] = 1.0
