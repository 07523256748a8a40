"""A recorded Kubernetes API (no cluster is available here), a fake internet serving pages, and
the real operator (kopf and our handlers) running against both."""

from __future__ import annotations

import asyncio
import copy
import itertools
import json
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jsonpatch
import pytest
from aiohttp import web

from shared_testkit.fake_http import FakeHttpServer, Recorded, Reply
from shared_testkit.polling import eventually
from shared_testkit.ports import free_port
from svc_dummysite.operator import run_operator
from svc_dummysite.settings import DummySiteSettings

SITES = "/apis/todo.example.org/v1"
APPS = "/apis/apps/v1"
CORE = "/api/v1"

_DISCOVERY: dict[str, list[dict[str, Any]]] = {
    CORE: [
        {"name": "namespaces", "kind": "Namespace", "namespaced": False},
        {"name": "events", "kind": "Event", "namespaced": True},
        {"name": "configmaps", "kind": "ConfigMap", "namespaced": True},
        {"name": "services", "kind": "Service", "namespaced": True},
    ],
    APPS: [{"name": "deployments", "kind": "Deployment", "namespaced": True}],
    SITES: [
        {"name": "dummysites", "kind": "DummySite", "namespaced": True},
        {"name": "dummysites/status", "kind": "DummySite", "namespaced": True},
    ],
}


def merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch (server-side apply is modelled the same way here)."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge(result.get(key), value)
    return result


def _server_defaults(obj: dict[str, Any]) -> None:
    """Fields a real API server fills in, so drift detection is tested against them too."""
    spec = obj.get("spec", {})
    if obj["kind"] == "Service":
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("clusterIP", "10.96.0.42")
        for port in spec.get("ports", []):
            port.setdefault("protocol", "TCP")
    if obj["kind"] == "Deployment":
        spec.setdefault("progressDeadlineSeconds", 600)
        spec.setdefault("strategy", {"type": "RollingUpdate"})
        for container in spec["template"]["spec"]["containers"]:
            container.setdefault("imagePullPolicy", "IfNotPresent")
            container.setdefault("terminationMessagePath", "/dev/termination-log")


@dataclass
class Write:
    method: str
    path: str
    content_type: str
    body: Any


@dataclass
class FakeKubernetes:
    """An in-memory API server over HTTP: discovery, list and watch of DummySites, merge patches
    (body and status subresource), server-side apply of children, events, finalizers. Every
    write is recorded."""

    url: str = ""
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: list[Write] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    refuse_apply: bool = False
    _versions: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _history: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    # What tests call.

    def get(self, kind: str, name: str, namespace: str = "default") -> dict[str, Any] | None:
        prefix = {"DummySite": SITES, "Deployment": APPS}.get(kind, CORE)
        plural = f"{kind.lower()}s"
        return self.objects.get(f"{prefix}/namespaces/{namespace}/{plural}/{name}")

    async def create_site(
        self, name: str, url: str, namespace: str = "default", **spec: Any
    ) -> None:
        path = f"{SITES}/namespaces/{namespace}/dummysites/{name}"
        site = {
            "apiVersion": "todo.example.org/v1",
            "kind": "DummySite",
            "metadata": {"name": name, "namespace": namespace, "generation": 1},
            "spec": {"websiteUrl": url, **spec},
        }
        await self._store(path, site, created=True)

    async def update_site_spec(self, name: str, namespace: str = "default", **spec: Any) -> None:
        path = f"{SITES}/namespaces/{namespace}/dummysites/{name}"
        site = copy.deepcopy(self.objects[path])
        site["spec"] = merge(site["spec"], spec)
        site["metadata"]["generation"] += 1
        await self._store(path, site)

    async def delete(self, kind: str, name: str, namespace: str = "default") -> None:
        """As `kubectl delete`: objects with finalizers wait for them to be removed."""
        obj = self.get(kind, name, namespace)
        assert obj is not None
        path = self._path_of(obj)
        if obj["metadata"].get("finalizers"):
            marked = copy.deepcopy(obj)
            marked["metadata"]["deletionTimestamp"] = datetime.now(UTC).isoformat()
            await self._store(path, marked)
        else:
            await self._remove(path)

    async def edit(
        self, kind: str, name: str, namespace: str = "default", **container: Any
    ) -> None:
        """As `kubectl edit`: change the first container of a Deployment by hand."""
        obj = copy.deepcopy(self.get(kind, name, namespace))
        assert obj is not None
        obj["spec"]["template"]["spec"]["containers"][0].update(container)
        await self._store(self._path_of(obj), obj)

    async def set_status(self, name: str, namespace: str = "default", **status: Any) -> None:
        """Status as another writer (or the passing of time) left it."""
        site = copy.deepcopy(self.get("DummySite", name, namespace))
        assert site is not None
        site["status"] = {**site.get("status", {}), **status}
        await self._store(self._path_of(site), site)

    def writes_to(self, kind_plural: str) -> list[Write]:
        return [w for w in self.writes if f"/{kind_plural}/" in w.path]

    # The HTTP side.

    @staticmethod
    def _path_of(obj: dict[str, Any]) -> str:
        api_version, metadata = obj["apiVersion"], obj["metadata"]
        prefix = CORE if api_version == "v1" else f"/apis/{api_version}"
        plural = f"{obj['kind'].lower()}s"
        return f"{prefix}/namespaces/{metadata['namespace']}/{plural}/{metadata['name']}"

    async def _store(self, path: str, obj: dict[str, Any], *, created: bool = False) -> None:
        metadata = obj["metadata"]
        if created:
            metadata.setdefault("uid", str(uuid.uuid4()))
            metadata.setdefault("creationTimestamp", datetime.now(UTC).isoformat())
            metadata.setdefault("generation", 1)
        if (
            metadata.get("deletionTimestamp")
            and not metadata.get("finalizers")
            and path in self.objects
        ):
            await self._remove(path)
            return
        version = next(self._versions)
        metadata["resourceVersion"] = str(version)
        self.objects[path] = obj
        await self._notify(version, "ADDED" if created else "MODIFIED", obj)

    async def _remove(self, path: str) -> None:
        obj = self.objects.pop(path)
        await self._notify(next(self._versions), "DELETED", obj)

    async def _notify(self, version: int, kind: str, obj: dict[str, Any]) -> None:
        self._history.append((version, kind, copy.deepcopy(obj)))
        async with self._changed:
            self._changed.notify_all()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        if path == "/version":
            return web.json_response({"major": "1", "minor": "32", "gitVersion": "v1.32.0"})
        if path == "/api":
            return web.json_response({"versions": ["v1"]})
        if path == "/apis":
            groups = [
                {
                    "name": prefix.split("/")[2],
                    "versions": [{"version": "v1"}],
                    "preferredVersion": {"version": "v1"},
                }
                for prefix in (APPS, SITES)
            ]
            return web.json_response({"groups": groups})
        if path in _DISCOVERY:
            resources = [
                {"singularName": "", "verbs": ["get", "list", "watch", "patch"], **r}
                for r in _DISCOVERY[path]
            ]
            return web.json_response({"resources": resources})
        if path == f"{SITES}/dummysites" and request.method == "GET":
            if request.query.get("watch") == "true":
                return await self._watch(request)
            items = [o for p, o in self.objects.items() if p.startswith(SITES)]
            latest = str(self._history[-1][0] if self._history else 0)
            return web.json_response({"metadata": {"resourceVersion": latest}, "items": items})
        if request.method == "POST" and path.endswith("/events"):
            self.events.append(await request.json())
            return web.json_response(self.events[-1], status=201)
        return await self._object(request, path)

    async def _object(self, request: web.Request, path: str) -> web.Response:
        subresource = path.endswith("/status")
        path = path.removesuffix("/status")
        existing = self.objects.get(path)
        if request.method == "GET":
            if existing is None:
                return _status(404, f"{path} not found")
            return web.json_response(existing)
        if request.method != "PATCH":
            return _status(405, f"{request.method} is not supported here")
        content_type = request.content_type
        body = json.loads(await request.read())
        self.writes.append(Write(request.method, request.path_qs, content_type, body))
        if content_type == "application/apply-patch+yaml":
            if self.refuse_apply:
                return _status(503, "etcd is having a bad day")
            return await self._apply(path, existing, body)
        if existing is None:
            return _status(404, f"{path} not found")
        if content_type == "application/json-patch+json":
            try:
                patched = jsonpatch.apply_patch(existing, body)
            except jsonpatch.JsonPatchException as error:
                return _status(422, str(error))
            if subresource:
                patched = {**existing, "status": patched.get("status")}
        elif subresource:  # the status subresource changes only status; the body all but status
            patched = merge(existing, {"status": body["status"]} if "status" in body else {})
        else:
            patched = merge(existing, {k: v for k, v in body.items() if k != "status"})
        if patched != existing:
            await self._store(path, patched)
        return web.json_response(self.objects.get(path, patched))

    async def _apply(
        self, path: str, existing: dict[str, Any] | None, body: dict[str, Any]
    ) -> web.Response:
        applied = merge(existing or {}, body)
        _server_defaults(applied)
        if applied != existing:
            await self._store(path, applied, created=existing is None)
        return web.json_response(self.objects[path])

    async def _watch(self, request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        since = int(request.query.get("resourceVersion") or 0)
        while True:
            for version, kind, obj in self._history:
                if version > since and obj["apiVersion"].startswith("todo.example.org"):
                    line = json.dumps({"type": kind, "object": obj}) + "\n"
                    await response.write(line.encode())
            since = self._history[-1][0] if self._history else since
            async with self._changed:
                await self._changed.wait()


def _status(code: int, message: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message}
    return web.json_response({**body, "code": code}, status=code)


@pytest.fixture
async def kubernetes() -> AsyncIterator[FakeKubernetes]:
    fake = FakeKubernetes()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    fake.url = f"http://127.0.0.1:{port}"
    yield fake
    await runner.cleanup()


class FakeInternet:
    """Pages by path; a test changes them or makes them misbehave."""

    def __init__(self) -> None:
        self.pages: dict[str, Reply] = {}
        self.server = FakeHttpServer(self.respond)

    def respond(self, request: Recorded) -> Reply:
        return self.pages.get(request.path, Reply(404, b"not here"))

    def html(self, path: str, text: str) -> str:
        self.pages[path] = Reply(200, text.encode(), {"Content-Type": "text/html; charset=utf-8"})
        return self.url(path)

    def url(self, path: str) -> str:
        return f"{self.server.url}{path}"


@pytest.fixture
def internet() -> Iterator[FakeInternet]:
    fake = FakeInternet()
    with fake.server:
        yield fake


@dataclass
class RunningOperator:
    """The operator in a thread with its own event loop, as in production (kopf owns its loop)."""

    settings: DummySiteSettings
    stop: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    errors: list[BaseException] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._run, name="operator", daemon=True)

    def _run(self) -> None:
        try:
            asyncio.run(run_operator(self.settings, stop_flag=self.stop, ready_flag=self.ready))
        except BaseException as error:  # noqa: BLE001 - reported by the fixture
            self.errors.append(error)

    async def metrics(self) -> str:
        async with httpx.AsyncClient() as client:
            response = await client.get(f"http://127.0.0.1:{self.settings.metrics_port}/metrics")
        return response.text

    async def liveness(self) -> httpx.Response:
        async with httpx.AsyncClient() as client:
            return await client.get(f"http://127.0.0.1:{self.settings.port}/healthz")


def operator_settings(kubernetes_url: str, **overrides: Any) -> DummySiteSettings:
    values: dict[str, Any] = {
        "port": free_port(),
        "metrics_port": free_port(),
        "kubernetes_api_url": kubernetes_url,
        "resync_seconds": 0.3,
        "retry_base_seconds": 0.1,
        "retry_max_seconds": 0.4,
        "fetch_timeout_seconds": 1.0,
        "max_page_bytes": 64 * 1024,
        **overrides,
    }
    return DummySiteSettings(**values)


@pytest.fixture
async def start_operator(kubernetes: FakeKubernetes) -> AsyncIterator[Any]:
    """Starts the operator (kopf, our handlers, probes, metrics); stops it after the test."""
    running: list[RunningOperator] = []

    async def start(**overrides: Any) -> RunningOperator:
        operator = RunningOperator(operator_settings(kubernetes.url, **overrides))
        running.append(operator)
        operator.thread.start()
        assert await asyncio.to_thread(operator.ready.wait, 10), operator.errors
        return operator

    yield start
    for operator in running:
        operator.stop.set()
        await asyncio.to_thread(operator.thread.join, 15)
        assert not operator.thread.is_alive()
        assert operator.errors == []


async def site_phase(kubernetes: FakeKubernetes, name: str, phase: str) -> dict[str, Any]:
    """Wait until the DummySite reports `phase`; return its status."""

    async def probe() -> dict[str, Any] | None:
        site = kubernetes.get("DummySite", name)
        status = (site or {}).get("status") or {}
        return status if status.get("phase") == phase else None

    status: dict[str, Any] = await eventually(probe, timeout=10, message=f"{name} {phase}")
    return status


@pytest.fixture
def wait_for_phase() -> Any:
    return site_phase
