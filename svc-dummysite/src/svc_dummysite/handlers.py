"""kopf handlers: when a DummySite appears or its spec changes the page is fetched and the objects
converge; a timer repairs drift and refreshes pages that ask for it. Status tells the outcome."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

import httpx
import kopf

from svc_dummysite import reconciliation
from svc_dummysite.fetcher import FetchError, fetch_page
from svc_dummysite.kubernetes import ApiAccess, KubernetesApi, KubernetesError
from svc_dummysite.metrics import OperatorMetrics
from svc_dummysite.reconciliation import GROUP, PLURAL, VERSION, Page, Site
from svc_dummysite.settings import DummySiteSettings

PENDING, READY, FAILED = "Pending", "Ready", "Failed"


def _status(body: Mapping[str, Any]) -> Mapping[str, Any]:
    return body.get("status") or {}


def _generation(body: Mapping[str, Any]) -> int:
    return int(body["metadata"].get("generation", 1))


def _write_status(patch: kopf.Patch, **fields: Any) -> None:
    """Every field, every time: the status may have been written since the handler's snapshot
    of the body (Pending, at the start of a fetch)."""
    patch.status.update(fields)


def _refresh_due(body: Mapping[str, Any], now: datetime) -> bool:
    minutes = body["spec"].get("refreshMinutes")
    last = _status(body).get("lastFetched")
    if not minutes or not last:
        return False
    return now - datetime.fromisoformat(last) >= timedelta(minutes=minutes)


class Reconciler:
    """Makes a DummySite's objects match its spec; every failure becomes status and a retry."""

    def __init__(
        self,
        settings: DummySiteSettings,
        api: KubernetesApi,
        http: httpx.AsyncClient,
        metrics: OperatorMetrics,
    ) -> None:
        self.settings = settings
        self.api = api
        self.http = http
        self.metrics = metrics

    async def refresh(
        self, body: Mapping[str, Any], patch: kopf.Patch, retry: int, trigger: str
    ) -> None:
        """Fetch the page again and converge: a new page rolls the Deployment. A spec seen for
        the first time is Pending until then; a served copy stays Ready while it is refreshed,
        a failed one Failed while it is retried."""
        site = Site.from_body(body)
        generation = _generation(body)
        try:
            if _status(body).get("observedGeneration") != generation:
                await self.api.patch_status(
                    body, {"phase": PENDING, "message": f"fetching {site.url}"}
                )
            page = await self._fetch(site)
            await self._converge(site, page)
        except (FetchError, KubernetesError) as failure:
            self._fail(body, patch, retry, trigger, failure)
        _write_status(
            patch,
            phase=READY,
            observedGeneration=generation,
            message=f"serving a copy of {page.url}",
            lastFetched=page.fetched_at.isoformat(),
        )
        self.metrics.reconciliations.labels(trigger, "ready").inc()

    async def resync(
        self, body: Mapping[str, Any], patch: kopf.Patch, retry: int, trigger: str
    ) -> None:
        """Repair drift from the stored copy; fetch only when a refresh is due or no copy is
        stored for the current URL. Sites whose spec change is still in progress are left to
        the change handlers."""
        status = _status(body)
        if status.get("observedGeneration") != _generation(body):
            if trigger == "resume":
                await self.refresh(body, patch, retry, trigger)
            return
        if status.get("phase") != READY or _refresh_due(body, datetime.now(UTC)):
            await self.refresh(body, patch, retry, trigger)
            return
        site = Site.from_body(body)
        try:
            stored = await self.api.read(reconciliation.config_map_reference(site))
            page = reconciliation.page_from_config_map(site, stored) if stored else None
            if page is None:
                await self.refresh(body, patch, retry, trigger)
                return
            repaired = await self._converge(site, page)
        except KubernetesError as failure:
            self._fail(body, patch, retry, trigger, failure)
        outcome = "repaired" if repaired else "unchanged"
        self.metrics.reconciliations.labels(trigger, outcome).inc()
        if repaired:
            logging.getLogger(__name__).info(
                "drift repaired", extra={"site": site.name, "objects": repaired}
            )

    async def _fetch(self, site: Site) -> Page:
        started = time.monotonic()
        try:
            return await fetch_page(self.http, site.url, max_bytes=self.settings.max_page_bytes)
        finally:
            self.metrics.fetch_seconds.observe(time.monotonic() - started)

    async def _converge(self, site: Site, page: Page) -> list[str]:
        """Apply each object that is missing or differs; return the kinds that were written."""
        written = []
        for desired in reconciliation.desired_objects(site, page, self.settings.nginx_image):
            actual = await self.api.read(desired)
            if actual is None or reconciliation.needs_apply(desired, actual):
                await self.api.apply(desired)
                written.append(str(desired["kind"]))
        return written

    def _fail(
        self,
        body: Mapping[str, Any],
        patch: kopf.Patch,
        retry: int,
        trigger: str,
        failure: FetchError | KubernetesError,
    ) -> NoReturn:
        reason = failure.reason if isinstance(failure, FetchError) else "kubernetes-api"
        _write_status(
            patch, phase=FAILED, observedGeneration=_generation(body), message=str(failure)
        )
        self.metrics.reconciliations.labels(trigger, "failed").inc()
        self.metrics.failures.labels(reason).inc()
        delay = min(self.settings.retry_base_seconds * 2**retry, self.settings.retry_max_seconds)
        raise kopf.TemporaryError(str(failure), delay=delay)


def build_registry(
    access: ApiAccess, reconciler: Reconciler, settings: DummySiteSettings
) -> kopf.OperatorRegistry:
    """The handlers, bound to their dependencies (no module-level registry)."""
    registry = kopf.OperatorRegistry()
    resource = (GROUP, VERSION, PLURAL)

    @kopf.on.login(registry=registry)
    def login(**_: Any) -> kopf.ConnectionInfo:
        return access.connection_info()

    @kopf.on.create(*resource, id="fetch-on-create", registry=registry)
    async def on_create(body: kopf.Body, patch: kopf.Patch, retry: int, **_: Any) -> None:
        await reconciler.refresh(body, patch, retry, "create")

    @kopf.on.update(*resource, field="spec", id="fetch-on-update", registry=registry)
    async def on_update(body: kopf.Body, patch: kopf.Patch, retry: int, **_: Any) -> None:
        await reconciler.refresh(body, patch, retry, "update")

    @kopf.on.resume(*resource, id="resync-on-resume", registry=registry)
    async def on_resume(body: kopf.Body, patch: kopf.Patch, retry: int, **_: Any) -> None:
        await reconciler.resync(body, patch, retry, "resume")

    @kopf.timer(
        *resource,
        id="resync",
        interval=settings.resync_seconds,
        initial_delay=settings.resync_seconds,
        registry=registry,
    )
    async def on_timer(body: kopf.Body, patch: kopf.Patch, **kwargs: Any) -> None:
        await reconciler.resync(body, patch, int(kwargs.get("retry") or 0), "timer")

    return registry
