"""Pytest fixtures for real infrastructure, the layer every test belongs to, and the CI rule
that a skipped test is a failure."""

from __future__ import annotations

import asyncio
import inspect
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import CodeType, FunctionType, ModuleType
from typing import Any

import pytest

from shared_testkit import containers, postgres
from shared_testkit.nats_cluster import NatsCluster, start_nats
from shared_testkit.nats_server import NatsServer
from shared_testkit.webhook_sink import WebhookSink

CONTAINER_ONLY = "testcontainers provider"

LAYERS = {
    "unit": "L1, in one process: no server, no child process (make test-unit)",
    "integration": "L2, needs a real PostgreSQL and nats-server",
    "e2e": "L3, runs whole processes, tools or a browser",
}
# Fixtures that hand a test a real server: requesting one, even indirectly, makes it integration.
REAL_SERVER_FIXTURES = frozenset(
    {"postgres_admin_url", "database_url", "nats_server", "nats_url", "nats_cluster"}
)
REAL_SERVERS = frozenset({"NatsServer", "NatsCluster", "start_nats", "ThrowawayCluster"})
# Names through which a test starts a child process or a browser: using one makes it e2e.
SPAWNERS = frozenset(
    {"subprocess", "Popen", "ServiceProcess", "async_playwright", "create_subprocess_exec"}
)
# The providers of real servers, judged by the fixtures above rather than by what they import.
_PROVIDER_MODULES = ("postgres", "nats_server", "nats_cluster", "route_proxy")
PROVIDERS = frozenset({__name__, *(f"shared_testkit.{m}" for m in _PROVIDER_MODULES)})


def pytest_configure(config: pytest.Config) -> None:
    for name, meaning in LAYERS.items():
        config.addinivalue_line("markers", f"{name}: {meaning}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its layer, unless it or its folder names one: e2e when its code (followed
    through its fixtures and the project's code it calls) can start a process or a browser,
    integration when it gets a real server, unit otherwise. `unit` tests are held to it while
    they run, so a wrong guess fails loudly instead of slowing the fast layer."""
    for item in items:
        if not any(item.get_closest_marker(layer) for layer in LAYERS):
            item.add_marker(_layer(item))


def _layer(item: pytest.Item) -> str:
    root = item.config.rootpath
    folder = {"e2e", "integration"} & set(Path(item.nodeid.split("::")[0]).parts[:-1])
    if folder:  # tests/e2e/, tests/integration/: the folder says it
        return folder.pop()
    names: set[str] = set()
    seen: set[int] = set()
    for start in _starting_points(item):
        names |= _names_reached(start, root, seen)
    if names & SPAWNERS:
        return "e2e"
    requested = set(getattr(item, "fixturenames", ())) | {
        name for name in REAL_SERVER_FIXTURES if repr(name) in names
    }
    if requested & REAL_SERVER_FIXTURES or names & REAL_SERVERS:
        return "integration"
    return "unit"


def _starting_points(item: pytest.Item) -> list[Any]:
    """The test function and the functions of the fixtures it uses (the real-server fixtures
    are judged by name, not by how they start their servers)."""
    points = [getattr(item, "obj", None)]
    info = getattr(item, "_fixtureinfo", None)
    for definitions in info.name2fixturedefs.values() if info else ():
        points += [d.func for d in definitions if d.func.__module__ not in PROVIDERS]
    return [point for point in points if point is not None]


def _names_reached(value: Any, root: Path, seen: set[int]) -> set[str]:
    """Every name the code of `value` uses, followed into the project's functions, classes and
    modules it names (not into installed libraries, nor into the real-server providers)."""
    names: set[str] = set()
    for function in _functions_of(value):
        if id(function) in seen or not _in_project(function, root):
            continue
        seen.add(id(function))
        used = _code_names(function.__code__)
        names |= used
        for name in used:
            target = function.__globals__.get(name)
            if isinstance(target, ModuleType):
                if _in_project(target, root):
                    for attribute in used & set(vars(target)):
                        names |= _names_reached(vars(target)[attribute], root, seen)
            elif target is not None:
                names |= _names_reached(target, root, seen)
    return names


def _functions_of(value: Any) -> list[FunctionType]:
    value = getattr(value, "__func__", value)  # bound, static and class methods
    value = getattr(value, "fget", value)  # properties
    value = inspect.unwrap(value) if callable(value) else value
    if isinstance(value, FunctionType):
        return [value]
    if inspect.isclass(value):
        return [f for member in vars(value).values() for f in _functions_of(member)]
    return []


def _code_names(code: CodeType) -> set[str]:
    """Global and attribute names, and string constants quoted (`getfixturevalue("nats_url")`
    gives `'nats_url'`)."""
    names = set(code.co_names)
    for constant in code.co_consts:
        if isinstance(constant, str):
            names.add(repr(constant))
        elif isinstance(constant, CodeType):
            names |= _code_names(constant)
    return names


def _in_project(value: Any, root: Path) -> bool:
    module = value if isinstance(value, ModuleType) else sys.modules.get(value.__module__ or "")
    if module is None or module.__name__ in PROVIDERS:
        return False
    path = Path(getattr(module, "__file__", None) or "/")
    return path.is_relative_to(root) and not path.is_relative_to(root / ".venv")


class ProcessInUnitTest(RuntimeError):
    """A test marked `unit` tried to start a child process."""


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_setup(item: pytest.Item) -> Iterator[None]:
    with _no_processes_if_unit(item):
        yield


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    with _no_processes_if_unit(item):
        yield


@contextmanager
def _no_processes_if_unit(item: pytest.Item) -> Iterator[None]:
    """While a `unit` test sets up and runs, starting a process is an error. (Teardown is free:
    it may stop servers that earlier tests of a wider scope started.)"""
    if not item.get_closest_marker("unit"):
        yield
        return
    original = subprocess.Popen._execute_child  # type: ignore[attr-defined]

    def refuse(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        raise ProcessInUnitTest(
            f"{item.nodeid} is marked unit but started {args!r}: mark it e2e or integration"
        )

    subprocess.Popen._execute_child = refuse  # type: ignore[attr-defined]
    try:
        yield
    finally:
        subprocess.Popen._execute_child = original  # type: ignore[attr-defined]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: Any = outcome.get_result()  # type: ignore[attr-defined]
    if not (os.environ.get("CI") and report.skipped and not hasattr(report, "wasxfail")):
        return
    reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else ""
    if CONTAINER_ONLY not in reason:
        report.outcome = "failed"
        report.longrepr = f"skipped on CI, which counts as a failure: {reason}"


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """A server where tests may create databases, from the first provider that is available."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
    elif containers.docker_available():
        container, url = containers.start_postgres()
        yield url
        container.stop()
    elif postgres.ThrowawayCluster.available():
        cluster = postgres.ThrowawayCluster()
        yield cluster.start()
        cluster.stop()
    else:
        pytest.skip("no PostgreSQL: set TEST_DATABASE_URL or put initdb/pg_ctl on PATH")


@pytest.fixture
async def database_url(postgres_admin_url: str) -> AsyncIterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    url = await postgres.create_database(postgres_admin_url)
    yield url
    await postgres.drop_database(postgres_admin_url, url)


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A private nats-server with JetStream that the test may stop, kill and restart."""
    server = NatsServer(tmp_path / "jetstream")
    server.start()
    yield server
    server.stop(kill=True)


@pytest.fixture
def nats_url(nats_server: NatsServer) -> str:
    return nats_server.url


@pytest.fixture
async def nats_cluster(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[NatsCluster]:
    """Three JetStream nodes from the deployment's nats/cluster.conf on loopback, with every
    stream, consumer and bucket of nats/jetstream/ at its R3; the test may kill, restart and
    partition nodes. Services connect with `seed_url` and their own user and password."""
    directory = tmp_path / "nats-cluster"
    directory.mkdir()
    cluster = await asyncio.to_thread(start_nats, request.config.rootpath / "nats", directory)
    try:
        await cluster.provision()
        yield cluster
    finally:
        await asyncio.to_thread(cluster.stop)


@pytest.fixture
def webhook_sink() -> Iterator[WebhookSink]:
    """A local stand-in for a chat webhook that records calls and answers as the test says."""
    with WebhookSink() as sink:
        yield sink
