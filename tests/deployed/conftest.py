"""The deployed-system suite: black-box tests through the public hosts only, which run the same
against a live deployment and against this machine.

- `TARGET_URL` (svc-todo's public host, e.g. https://staging.example.org) and `TARGET_LOG_URL`
  (log-output's, e.g. https://log.staging.example.org) set: the tests talk to that deployment.
  The staging validation Job (tests/deployed/validate_staging.py) runs them so after every sync.
- Neither set (CI, `make test`): the services are launched here behind a stand-in for the ingress
  gateway that routes what istio/public-routes.yaml routes (local_stack.py).

Tests share the deployment with its users: each todo they create has a unique text and is
deleted afterwards, and no assertion assumes the list is empty."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

TARGET_VARIABLES = ("TARGET_URL", "TARGET_LOG_URL")


@dataclass(frozen=True)
class Target:
    todo_url: str
    log_url: str


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "deployed: black-box through the public hosts; TARGET_URL points it elsewhere"
    )


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Locally these tests run whole processes (L3), before the layer plugin guesses."""
    here = Path(__file__).parent
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.deployed)
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Target]:
    given = {name: os.environ.get(name, "").rstrip("/") for name in TARGET_VARIABLES}
    if any(given.values()):
        if not all(given.values()):
            pytest.fail(f"set both {' and '.join(TARGET_VARIABLES)}, or neither", pytrace=False)
        yield Target(given["TARGET_URL"], given["TARGET_LOG_URL"])
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from local_stack import launched  # only here: a remote run needs no services installed

    admin_url = request.getfixturevalue("postgres_admin_url")
    with launched(admin_url, tmp_path_factory.mktemp("deployed")) as (todo_url, log_url):
        yield Target(todo_url, log_url)


@pytest.fixture
def todo(target: Target) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.todo_url, timeout=30) as client:
        yield client


@pytest.fixture
def log(target: Target) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=target.log_url, timeout=30) as client:
        yield client


class Todos:
    """Creates todos with texts no one else uses, and deletes whatever is left of them."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.run = uuid.uuid4().hex[:8]
        self.created: list[str] = []

    def text(self, label: str) -> str:
        return f"deployed test {self.run} {label}"

    def create(self, label: str, **headers: str) -> dict[str, Any]:
        response = self.client.post("/api/todos", json={"text": self.text(label)}, headers=headers)
        assert response.status_code == 201, response.text
        todo: dict[str, Any] = response.json()
        self.created.append(todo["id"])
        return todo

    def remember(self, todo_id: str) -> None:
        self.created.append(todo_id)

    def delete_all(self) -> None:
        for todo_id in self.created:
            assert self.client.delete(f"/api/todos/{todo_id}").status_code in (204, 404)


@pytest.fixture
def todos(todo: httpx.Client) -> Iterator[Todos]:
    made = Todos(todo)
    yield made
    made.delete_all()
