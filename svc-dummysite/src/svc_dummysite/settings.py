"""svc-dummysite configuration: environment variables, typed, read once in `main`."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared_runtime.settings import Port, ServiceSettings

CONFIG_MAP_LIMIT = 1_000_000
"""A ConfigMap holds at most 1 MiB; the page shares it with its annotations."""


class DummySiteSettings(ServiceSettings, frozen=True):
    port: Annotated[int, Meta(description="kopf's liveness endpoint: GET /healthz")] = 8080
    metrics_port: Port = 9090
    kubernetes_api_url: Annotated[
        str | None,
        Meta(
            description="Talk to this API server without credentials (`kubectl proxy`, tests); "
            "unset: the pod's service account"
        ),
    ] = None
    watch_namespaces: Annotated[
        str, Meta(description="Comma-separated namespaces to serve; empty: the whole cluster")
    ] = ""
    nginx_image: str = "docker.io/nginxinc/nginx-unprivileged:1.27-alpine"
    fetch_timeout_seconds: Annotated[float, Meta(gt=0)] = 10.0
    max_page_bytes: Annotated[int, Meta(gt=0, le=CONFIG_MAP_LIMIT - 64 * 1024)] = 512 * 1024
    resync_seconds: Annotated[
        float, Meta(gt=0, description="How often each site's objects are checked for drift")
    ] = 60.0
    retry_base_seconds: Annotated[float, Meta(gt=0)] = 5.0
    retry_max_seconds: Annotated[float, Meta(gt=0)] = 300.0

    @property
    def namespaces(self) -> list[str]:
        return [n.strip() for n in self.watch_namespaces.split(",") if n.strip()]
