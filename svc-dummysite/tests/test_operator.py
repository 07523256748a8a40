"""The operator as kopf runs it (our handlers behind kopf's watch, retries, timers and probes)
against a recorded Kubernetes API: what it creates, patches and reports."""

from __future__ import annotations

import asyncio
import copy
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from shared_testkit.fake_http import Recorded, Reply
from shared_testkit.polling import eventually

PAGE = "<html><head><title>Example</title></head><body><img src='logo.png'></body></html>"
CHILDREN = ("configmaps", "deployments", "services")
CHILDREN_KINDS = ("ConfigMap", "Deployment", "Service")


def checksum_of(kubernetes: Any, name: str) -> str:
    template = kubernetes.get("Deployment", name)["spec"]["template"]
    return str(template["metadata"]["annotations"]["todo.example.org/page-checksum"])


def child_writes(kubernetes: Any) -> int:
    return sum(len(kubernetes.writes_to(plural)) for plural in CHILDREN)


async def metric(operator: Any, name: str, **labels: str) -> float:
    """The value of one series on the operator's /metrics page (0 when absent)."""
    selector = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = re.compile(rf"^{name}\{{{selector}\}} (\S+)$", re.MULTILINE)
    found = pattern.search(await operator.metrics())
    return float(found[1]) if found else 0.0


async def test_a_new_site_is_served_and_reported_ready(
    kubernetes: Any, internet: Any, start_operator: Any, wait_for_phase: Any
) -> None:
    url = internet.html("/", PAGE)
    operator = await start_operator()
    await kubernetes.create_site("example", url)

    status = await wait_for_phase(kubernetes, "example", "Ready")

    site = kubernetes.get("DummySite", "example")
    assert status["observedGeneration"] == 1
    assert status["message"] == f"serving a copy of {url}"
    assert datetime.fromisoformat(status["lastFetched"]) <= datetime.now(UTC)
    html = kubernetes.get("ConfigMap", "example")["data"]["index.html"]
    assert f'<base href="{url}">' in html
    assert "<img src='logo.png'>" in html
    for kind in ("ConfigMap", "Deployment", "Service"):
        (owner,) = kubernetes.get(kind, "example")["metadata"]["ownerReferences"]
        assert owner["uid"] == site["metadata"]["uid"]
        assert owner["controller"] is True
    for plural in CHILDREN:
        (write,) = kubernetes.writes_to(plural)
        assert write.content_type == "application/apply-patch+yaml"
        assert write.method == "PATCH"
        assert "fieldManager=svc-dummysite" in write.path
        assert "force=true" in write.path
    assert (
        await metric(operator, "dummysite_reconciliations_total", trigger="create", outcome="ready")
        == 1
    )
    assert (await operator.liveness()).status_code == 200


async def test_the_site_is_pending_while_its_page_is_fetched(
    kubernetes: Any, internet: Any, start_operator: Any, wait_for_phase: Any
) -> None:
    released = threading.Event()

    def slow(request: Recorded) -> Reply:
        released.wait(5)
        return Reply(200, PAGE.encode(), {"Content-Type": "text/html"})

    internet.server.responder = slow
    await start_operator(fetch_timeout_seconds=5)
    await kubernetes.create_site("slow", internet.url("/"))

    pending = await wait_for_phase(kubernetes, "slow", "Pending")
    released.set()

    assert pending["message"] == f"fetching {internet.url('/')}"
    assert kubernetes.get("ConfigMap", "slow") is None
    await wait_for_phase(kubernetes, "slow", "Ready")


async def test_reconciling_again_and_restarting_change_nothing(
    kubernetes: Any, internet: Any, start_operator: Any, wait_for_phase: Any
) -> None:
    first = await start_operator()
    await kubernetes.create_site("example", internet.html("/", PAGE))
    await wait_for_phase(kubernetes, "example", "Ready")
    first.stop.set()
    await asyncio.to_thread(first.thread.join, 15)
    writes, fetches = child_writes(kubernetes), len(internet.server.requests)
    children = {kind: copy.deepcopy(kubernetes.get(kind, "example")) for kind in CHILDREN_KINDS}
    status = copy.deepcopy(kubernetes.get("DummySite", "example")["status"])

    restarted = await start_operator()

    async def resynced_twice() -> bool:
        resumed = await metric(
            restarted, "dummysite_reconciliations_total", trigger="resume", outcome="unchanged"
        )
        timer = await metric(
            restarted, "dummysite_reconciliations_total", trigger="timer", outcome="unchanged"
        )
        return resumed == 1 and timer >= 2

    await eventually(resynced_twice, message="resume and two timer runs")
    assert child_writes(kubernetes) == writes
    assert len(internet.server.requests) == fetches
    assert {kind: kubernetes.get(kind, "example") for kind in CHILDREN_KINDS} == children
    assert kubernetes.get("DummySite", "example")["status"] == status


async def test_a_deleted_service_and_an_edited_deployment_are_repaired(
    kubernetes: Any, internet: Any, start_operator: Any, wait_for_phase: Any
) -> None:
    operator = await start_operator()
    await kubernetes.create_site("example", internet.html("/", PAGE))
    await wait_for_phase(kubernetes, "example", "Ready")
    fetches = len(internet.server.requests)
    original_image = kubernetes.get("Deployment", "example")["spec"]["template"]["spec"][
        "containers"
    ][0]["image"]

    await kubernetes.delete("Service", "example")
    await kubernetes.edit("Deployment", "example", image="nginx:latest")

    def repaired() -> bool:
        service = kubernetes.get("Service", "example")
        deployment = kubernetes.get("Deployment", "example")
        image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
        return service is not None and image == original_image

    async def probe() -> bool:
        return repaired()

    await eventually(probe, message="Service recreated and image restored")
    assert len(internet.server.requests) == fetches
    assert (
        await metric(
            operator, "dummysite_reconciliations_total", trigger="timer", outcome="repaired"
        )
        >= 1
    )
    assert kubernetes.get("DummySite", "example")["status"]["phase"] == "Ready"


async def test_a_new_url_is_fetched_and_rolls_the_deployment(
    kubernetes: Any, internet: Any, start_operator: Any, wait_for_phase: Any
) -> None:
    await start_operator()
    await kubernetes.create_site("example", internet.html("/one", "<p>one</p>"))
    await wait_for_phase(kubernetes, "example", "Ready")
    before = checksum_of(kubernetes, "example")

    second = internet.html("/two", "<p>two</p>")
    await kubernetes.update_site_spec("example", websiteUrl=second)

    async def observed() -> dict[str, Any] | None:
        status = kubernetes.get("DummySite", "example").get("status", {})
        return status if status.get("observedGeneration") == 2 else None

    status = await eventually(observed, message="generation 2 observed")
    assert status["phase"] == "Ready"
    assert status["message"] == f"serving a copy of {second}"
    assert "<p>two</p>" in kubernetes.get("ConfigMap", "example")["data"]["index.html"]
    assert checksum_of(kubernetes, "example") != before


async def test_a_failing_page_is_reported_and_retried_until_it_works(
    kubernetes: Any, internet: Any, start_operator: Any, wait_for_phase: Any
) -> None:
    operator = await start_operator()
    internet.pages["/"] = Reply(503, b"down for maintenance", {"Content-Type": "text/html"})
    await kubernetes.create_site("example", internet.url("/"))

    failed = await wait_for_phase(kubernetes, "example", "Failed")
    assert failed["message"] == f"{internet.url('/')} answered HTTP 503"
    assert failed["observedGeneration"] == 1
    assert kubernetes.get("ConfigMap", "example") is None

    async def retried() -> bool:
        return len(internet.server.requests) >= 3

    await eventually(retried, message="retried with back-off")
    assert await metric(operator, "dummysite_reconcile_failures_total", reason="status") >= 2

    internet.html("/", PAGE)
    await wait_for_phase(kubernetes, "example", "Ready")
    assert kubernetes.get("Service", "example") is not None
    assert operator.thread.is_alive()


async def test_a_failing_kubernetes_api_is_reported_and_retried(
    kubernetes: Any, internet: Any, start_operator: Any, wait_for_phase: Any
) -> None:
    operator = await start_operator()
    kubernetes.refuse_apply = True
    await kubernetes.create_site("example", internet.html("/", PAGE))

    failed = await wait_for_phase(kubernetes, "example", "Failed")
    assert "answered 503: etcd is having a bad day" in failed["message"]
    assert (
        await metric(operator, "dummysite_reconcile_failures_total", reason="kubernetes-api") >= 1
    )

    kubernetes.refuse_apply = False
    await wait_for_phase(kubernetes, "example", "Ready")


async def test_refresh_minutes_fetches_the_page_again_when_due(
    kubernetes: Any, internet: Any, start_operator: Any, wait_for_phase: Any
) -> None:
    await start_operator()
    url = internet.html("/", "<p>morning</p>")
    await kubernetes.create_site("example", url, refreshMinutes=5)
    first = await wait_for_phase(kubernetes, "example", "Ready")
    internet.html("/", "<p>evening</p>")

    an_hour_ago = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    await kubernetes.set_status("example", lastFetched=an_hour_ago)

    async def refreshed() -> bool:
        status = kubernetes.get("DummySite", "example")["status"]
        return status["phase"] == "Ready" and status["lastFetched"] > first["lastFetched"]

    await eventually(refreshed, message="page fetched again and reported")
    assert "evening" in kubernetes.get("ConfigMap", "example")["data"]["index.html"]


async def test_a_deleted_site_is_released(
    kubernetes: Any, internet: Any, start_operator: Any, wait_for_phase: Any
) -> None:
    await start_operator()
    await kubernetes.create_site("example", internet.html("/", PAGE))
    await wait_for_phase(kubernetes, "example", "Ready")
    assert kubernetes.get("DummySite", "example")["metadata"]["finalizers"]

    await kubernetes.delete("DummySite", "example")

    async def gone() -> bool:
        return kubernetes.get("DummySite", "example") is None

    await eventually(gone, message="finalizer removed and the site deleted")
