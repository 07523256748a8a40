"""svc-dummysite configuration: environment variables, typed, read once in `main`."""

from __future__ import annotations

from pydantic import Field

from shared_runtime.settings import ServiceSettings

CONFIG_MAP_LIMIT = 1_000_000
"""A ConfigMap holds at most 1 MiB; the page shares it with its annotations."""


class DummySiteSettings(ServiceSettings):
    port: int = Field(default=8080, description="kopf's liveness endpoint: GET /healthz")
    metrics_port: int = Field(default=9090, ge=0, le=65535)
    kubernetes_api_url: str | None = Field(
        default=None,
        description="Talk to this API server without credentials (`kubectl proxy`, tests); "
        "unset: the pod's service account",
    )
    watch_namespaces: str = Field(
        default="", description="Comma-separated namespaces to serve; empty: the whole cluster"
    )
    nginx_image: str = "docker.io/nginxinc/nginx-unprivileged:1.27-alpine"
    fetch_timeout_seconds: float = Field(default=10.0, gt=0)
    max_page_bytes: int = Field(default=512 * 1024, gt=0, le=CONFIG_MAP_LIMIT - 64 * 1024)
    resync_seconds: float = Field(
        default=60.0, gt=0, description="How often each site's objects are checked for drift"
    )
    retry_base_seconds: float = Field(default=5.0, gt=0)
    retry_max_seconds: float = Field(default=300.0, gt=0)

    @property
    def namespaces(self) -> list[str]:
        return [n.strip() for n in self.watch_namespaces.split(",") if n.strip()]
