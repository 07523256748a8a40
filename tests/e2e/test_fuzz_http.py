"""Schemathesis against every HTTP service's own OpenAPI document, the services running as
their console commands: whatever the documented routes are sent, no answer is a server error
(but a readiness 503 that says why), and every error keeps the one JSON error shape."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from shared_testkit.hostile_requests import CORPUS, send
from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import wait_until
from shared_testkit.ports import free_port

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent
SERVICES = {
    "svc-todo": {},
    "svc-wikipedia": {"SUGGEST_EVERY_MINUTES": "0", "WIKIPEDIA_BASE_URL": "http://127.0.0.1:9"},
    "svc-greeter": {},
    "svc-pingpong": {},
    "svc-logoutput": {"PINGPONG_URL": "http://127.0.0.1:9", "GREETER_URL": "http://127.0.0.1:9"},
    "svc-broadcaster": {"WEBHOOK_FORMAT": "log"},
}
MAY_ANSWER_503 = {"/readyz", "/"}
"""Readiness says "not ready"; svc-wikipedia's trigger says "Wikipedia unreachable, retry"."""


@pytest.fixture(scope="module")
def running() -> Iterator[dict[str, str]]:
    """Every service on a free port, with a private nats-server and SQLite under a temp dir."""
    scratch = Path(tempfile.mkdtemp(prefix="fuzz-"))
    nats = NatsServer(scratch / "jetstream")
    nats.start()
    processes, urls = [], {}
    for name, extra in SERVICES.items():
        port = free_port()
        environment = {
            **os.environ,
            "PORT": str(port),
            "NATS_URL": nats.url,
            "DATA_DIR": str(scratch / name),
            "LOG_LEVEL": "WARNING",
            "IMAGE_SOURCE_URL": "http://127.0.0.1:9/unreachable",
            **extra,
        }
        environment.pop("DATABASE_URL", None)
        processes.append(
            subprocess.Popen(
                [str(BIN / name)],
                env=environment,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        urls[name] = f"http://127.0.0.1:{port}"
    try:
        for url in urls.values():
            wait_until(lambda url=url: _answers(url), timeout=60, message=f"{url} up")
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=30)
        nats.stop()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.parametrize("service", list(SERVICES))
def test_no_input_is_a_server_error_and_errors_keep_their_shape(
    service: str, running: dict[str, str]
) -> None:
    url = running[service]
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    if service != "svc-broadcaster":  # its HTTP side is only health, readiness and metrics
        assert operations, f"{service} documents no operation"
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def answers_without_a_server_error(case: schemathesis.Case) -> None:
            check(case, case.call(base_url=url, timeout=10))

        answers_without_a_server_error()


def check(case: schemathesis.Case, response: Any) -> None:
    status = response.status_code
    if status == 503 and case.path in MAY_ANSWER_503:
        return
    assert status < 500, f"{case.method} {case.path} answered {status}: {response.text[:300]}"
    content_type = " ".join(response.headers.get("content-type", []))
    if status >= 400 and "json" in content_type:
        body = response.json()
        assert body.get("status_code") == status, body
        assert "detail" in body, body


@pytest.mark.parametrize("service", list(SERVICES))
def test_the_hostile_request_corpus_gets_no_server_error(
    service: str, running: dict[str, str]
) -> None:
    url = running[service]
    port = int(url.rsplit(":", 1)[1])
    document = httpx.get(f"{url}/schema/openapi.json", timeout=5).json()
    paths = [path for path in document["paths"] if "{" not in path] + ["/healthz", "/static/x"]
    failures = []
    for path in paths:
        for name, template in CORPUS.items():
            status = send(port, path, template)
            if (
                status is not None
                and status >= 500
                and not (status == 503 and path in MAY_ANSWER_503)
            ):
                failures.append(f"{name} to {path}: {status}")
    assert failures == []
