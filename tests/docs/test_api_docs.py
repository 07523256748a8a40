"""`make docs` exports what the services really serve: each service runs as its own console
command, and its `/schema/openapi.json` (and `/asyncapi.json` where it has one) must equal the
exported document. A route, model or description changed in code without the export following
fails here; so does a service the export forgets."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared_testkit.processes import ServiceProcess

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

import export_docs  # noqa: E402


def test_every_service_with_an_http_app_is_exported() -> None:
    with_app = {p.parents[2].name for p in REPO.glob("svc-*/src/*/app.py")}
    assert with_app == set(export_docs.SERVICES)
    for dotted in export_docs.SERVICES.values():
        module = importlib.import_module(dotted.split(".")[0] + ".app")
        assert callable(module.create_app)


def export(out: Path, env: dict[str, str]) -> Path:
    """The documents as `make docs` writes them (without the renderers), for services configured
    by `env` as the processes below are: the AsyncAPI names the NATS server a service uses."""
    subprocess.run(
        [sys.executable, str(REPO / "tools" / "export_docs.py"), "--specs-only", "--out", out],
        env={"PATH": os.environ.get("PATH", ""), **env},
        check=True,
        capture_output=True,
        timeout=120,
    )
    return out


def test_the_export_writes_an_index_linking_every_document(tmp_path: Path) -> None:
    exported = export(tmp_path / "docs", {"DATA_DIR": str(tmp_path)})
    index = (exported / "index.html").read_text()
    documents = sorted(exported.glob("svc-*/*.json"))
    assert {d.parent.name for d in documents} == set(export_docs.SERVICES)
    assert (exported / "svc-todo" / "asyncapi.json") in documents
    for document in documents:
        assert f'href="{document.parent.name}/{document.name}"' in index


@pytest.fixture
def service_env(nats_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "DATA_DIR": str(tmp_path),
        "NATS_URL": nats_url,
        "SUGGEST_EVERY_MINUTES": "0",
        "WEBHOOK_FORMAT": "log",
        "WIKIPEDIA_BASE_URL": "http://127.0.0.1:9",
        "PINGPONG_URL": "http://127.0.0.1:9",
        "GREETER_URL": "http://127.0.0.1:9",
    }


@pytest.fixture
def running(service_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """Every exported service as a real process on its own port: name -> base URL."""
    processes = {name: ServiceProcess(name, service_env, tmp_path) for name in export_docs.SERVICES}
    try:
        for process in processes.values():
            process.start(timeout=60)
        yield {name: process.url for name, process in processes.items()}
    finally:
        for process in processes.values():
            process.stop()


def served(url: str) -> Any:
    response = httpx.get(url, timeout=10)
    response.raise_for_status()
    return response.json()


@pytest.mark.integration
def test_exported_documents_equal_what_the_running_services_serve(
    service_env: dict[str, str], running: dict[str, str], tmp_path: Path
) -> None:
    exported = export(tmp_path / "docs", service_env)
    compared = 0
    for service, base_url in running.items():
        for name, path in export_docs.DOCUMENTS.items():
            file = exported / service / name
            if not file.exists():
                assert httpx.get(base_url + path, timeout=10).status_code == 404, (
                    f"{service} serves {path} but the export has no {name}"
                )
                continue
            assert json.loads(file.read_text()) == served(base_url + path), (
                f"{service}{path} differs from {file.name}: run `make docs`"
            )
            compared += 1
    assert compared == len(list(exported.glob("svc-*/*.json")))
