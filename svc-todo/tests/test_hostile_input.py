"""Inputs a fuzzer or an attacker sends answer 4xx with the error shape, never 500."""

from __future__ import annotations

from typing import Any


async def test_json_nested_a_thousand_deep_is_a_400(client: Any) -> None:
    deep = "[" * 5000 + "]" * 5000
    response = await client.post(
        "/api/todos", content=f'{{"text": {deep}}}', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_json"
    assert "nested too deeply" in response.json()["detail"]


async def test_a_nul_in_a_static_path_is_a_404(client: Any) -> None:
    response = await client.get("/static/a%00b")
    assert response.status_code == 404


async def test_a_missing_static_file_is_a_404_that_does_not_echo_the_path(client: Any) -> None:
    response = await client.get("/static/no-such-file-here.css")
    assert response.status_code == 404
    assert "no-such-file-here" not in response.text
