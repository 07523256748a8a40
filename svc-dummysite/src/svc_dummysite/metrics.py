"""Prometheus metrics of the reconciliations, served on their own port (kopf owns the probe one)."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest


class OperatorMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.reconciliations = Counter(
            "dummysite_reconciliations_total",
            "Reconciliations by what started them and how they ended "
            "(ready, unchanged, repaired, failed)",
            ["trigger", "outcome"],
            registry=registry,
        )
        self.failures = Counter(
            "dummysite_reconcile_failures_total",
            "Failed reconciliations by reason (fetch problems, Kubernetes API errors)",
            ["reason"],
            registry=registry,
        )
        self.fetch_seconds = Histogram(
            "dummysite_fetch_duration_seconds",
            "Time to fetch a page, successful or not",
            registry=registry,
        )


async def serve_metrics(registry: CollectorRegistry, port: int) -> web.AppRunner:
    """`GET /metrics` on `port`; the caller cleans the returned runner up."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    return runner
