"""What the public hosts expose: the internal endpoints (metrics, health, readiness, schemas) are
not routed from outside, and no hostile raw request gets a server error from a public path."""

from __future__ import annotations

from typing import TYPE_CHECKING

import httpx
import pytest

from shared_testkit.hostile_requests import CORPUS, send_to

if TYPE_CHECKING:
    from conftest import Target

INTERNAL = ["/metrics", "/healthz", "/readyz", "/schema", "/schema/openapi.json", "/asyncapi.json"]
PUBLIC_PATHS = {"todo_url": ["/", "/api/todos", "/fragments/todos"], "log_url": ["/"]}


@pytest.mark.parametrize("host", list(PUBLIC_PATHS))
def test_internal_endpoints_are_not_routed_from_outside(target: Target, host: str) -> None:
    base_url = getattr(target, host)
    answered = {path: httpx.get(base_url + path, timeout=30).status_code for path in INTERNAL}

    assert answered == dict.fromkeys(INTERNAL, 404)


@pytest.mark.parametrize("host", list(PUBLIC_PATHS))
def test_no_hostile_request_gets_a_server_error(target: Target, host: str) -> None:
    base_url = getattr(target, host)
    failures = [
        f"{name} to {path}: {status}"
        for path in PUBLIC_PATHS[host]
        for name, template in CORPUS.items()
        if (status := send_to(base_url, path, template)) is not None and status >= 500
    ]

    assert failures == []
