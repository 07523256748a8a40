"""Every metric the alerts, dashboards and canary analysis read is exported by a real service.

Each service runs as its own process, so each `/metrics` shows only what that service exports.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from manifest_checks import metrics, render
from prometheus_client.parser import text_string_to_metric_families

from shared_testkit.processes import ServiceProcess

SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum"),
}


def exported_names(exposition: str) -> set[str]:
    """Series names a scrape yields, including those of labelled metrics not yet incremented."""
    names: set[str] = set()
    for family in text_string_to_metric_families(exposition):
        names |= {family.name + suffix for suffix in SAMPLE_SUFFIXES.get(family.type, ("",))}
        names |= {sample.name for sample in family.samples}
    return names


@pytest.fixture
def running_services(
    database_url: str, nats_url: str, tmp_path: Path
) -> Iterator[list[ServiceProcess]]:
    data = {"DATA_DIR": str(tmp_path / "data")}
    nats = {"NATS_URL": nats_url}
    pingpong = ServiceProcess("svc-pingpong", data, tmp_path)
    greeter = ServiceProcess("svc-greeter", {"GREETER_VERSION": "v1"}, tmp_path)
    services = [
        ServiceProcess(
            "svc-todo",
            {
                **data,
                **nats,
                "DATABASE_URL": database_url,
                "IMAGE_SOURCE_URL": "http://127.0.0.1:9/none",
            },
            tmp_path,
        ),
        ServiceProcess("svc-broadcaster", {**nats, "WEBHOOK_FORMAT": "log"}, tmp_path),
        ServiceProcess("svc-wikipedia", {**nats, "SUGGEST_EVERY_MINUTES": "0"}, tmp_path),
        pingpong,
        greeter,
    ]
    try:
        for service in services:
            service.start(wait_for="/readyz", timeout=30)
        logoutput = ServiceProcess(
            "svc-logoutput",
            {**data, "PINGPONG_URL": pingpong.url, "GREETER_URL": greeter.url},
            tmp_path,
        )
        services.append(logoutput)
        logoutput.start(wait_for="/readyz", timeout=30)
        yield services
    finally:
        for service in services:
            service.stop()


def test_the_services_export_every_metric_monitoring_reads(
    running_services: list[ServiceProcess],
) -> None:
    manifests = [m for d in render.DEPLOYABLE for m in render.build(render.REPO / d)]
    used = metrics.used_metric_names(manifests)
    exported: set[str] = set()
    for service in running_services:
        httpx.get(f"{service.url}/", timeout=5)  # one request, so HTTP series exist
        exported |= exported_names(httpx.get(f"{service.url}/metrics", timeout=5).text)

    assert used - exported == set()
    assert {"greeter_greetings_total", "todos_created_total"} <= used
