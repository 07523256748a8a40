"""The running operator: kopf with our handlers, its liveness endpoint, and our metrics port."""

from __future__ import annotations

import asyncio
import threading

import kopf
from prometheus_client import CollectorRegistry

from svc_dummysite.fetcher import fetch_client
from svc_dummysite.handlers import Reconciler, build_registry
from svc_dummysite.kubernetes import ApiAccess, KubernetesApi
from svc_dummysite.metrics import OperatorMetrics, serve_metrics
from svc_dummysite.reconciliation import GROUP
from svc_dummysite.settings import DummySiteSettings

LIVENESS_PATH = "/healthz"
Flag = asyncio.Event | threading.Event


def operator_settings() -> kopf.OperatorSettings:
    """One replica, no peering objects, no CRD watching (so no RBAC for either); kopf's
    bookkeeping in annotations under our group, so `status` holds only the DummySite's fields."""
    settings = kopf.OperatorSettings()
    settings.peering.standalone = True
    settings.scanning.disabled = True
    settings.persistence.finalizer = f"{GROUP}/dummysite-operator"
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(
        prefix=GROUP, key="last-handled-configuration"
    )
    return settings


async def run_operator(
    settings: DummySiteSettings,
    *,
    stop_flag: Flag | None = None,
    ready_flag: Flag | None = None,
) -> None:
    """Run until SIGTERM/SIGINT or `stop_flag`; `ready_flag` is set once kopf is serving.

    kopf cancels every task of the event loop that started after it when it stops, so it gets
    a loop of its own (`asyncio.run`); threading events stop it from another thread."""
    access = ApiAccess.configured(settings.kubernetes_api_url)
    prometheus = CollectorRegistry()
    metrics = OperatorMetrics(prometheus)
    metrics_runner = await serve_metrics(prometheus, settings.metrics_port)
    try:
        async with (
            KubernetesApi(access) as api,
            fetch_client(settings.fetch_timeout_seconds) as http,
        ):
            reconciler = Reconciler(settings, api, http, metrics)
            await kopf.operator(
                registry=build_registry(access, reconciler, settings),
                settings=operator_settings(),
                standalone=True,
                clusterwide=not settings.namespaces,
                namespaces=settings.namespaces,
                liveness_endpoint=f"http://0.0.0.0:{settings.port}{LIVENESS_PATH}",
                stop_flag=stop_flag,
                ready_flag=ready_flag,
            )
    finally:
        await metrics_runner.cleanup()
