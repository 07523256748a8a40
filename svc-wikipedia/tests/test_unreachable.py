"""Wikipedia unreachable: the caller is told to retry, and not where Wikipedia was looked for."""

from __future__ import annotations

from typing import Any

import pytest

from svc_wikipedia.settings import WikipediaSettings


@pytest.fixture
def settings(make_settings: Any, nats_url: str) -> WikipediaSettings:
    unreachable: WikipediaSettings = make_settings(
        nats_url=nats_url, wikipedia_base_url="http://127.0.0.1:9", wikipedia_attempts=1
    )
    return unreachable


async def test_wikipedia_unreachable_answers_503_without_its_address(client: Any) -> None:
    response = await client.post(
        "/",
        headers={
            "ce-specversion": "1.0",
            "ce-id": "ping-while-unreachable",
            "ce-type": "dev.knative.sources.ping",
            "ce-source": "/tests",
        },
    )

    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert response.json()["detail"] == "Wikipedia unreachable"
