"""The todo REST contract through svc-todo's public host, as a client of the deployment sees it:
the life of a todo, pages, conditional GETs, and bad input refused with a 4xx that names the
rule (never a 500)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import httpx
import pytest

if TYPE_CHECKING:
    from conftest import Todos

NEXT_LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')
MISSING = "00000000-0000-4000-8000-000000000000"


def test_a_todo_is_created_once_read_changed_and_deleted(todo: httpx.Client, todos: Todos) -> None:
    key = todos.text("key")
    created = todo.post(
        "/api/todos", json={"text": f"  {todos.text('life')}  "}, headers={"Idempotency-Key": key}
    )
    assert created.status_code == 201, created.text
    first = created.json()
    todos.remember(first["id"])
    retried = todo.post(
        "/api/todos", json={"text": todos.text("life")}, headers={"Idempotency-Key": key}
    )
    reused = todo.post(
        "/api/todos", json={"text": todos.text("other")}, headers={"Idempotency-Key": key}
    )

    assert first["text"] == todos.text("life")
    assert first["done"] is False
    assert (retried.status_code, retried.json()) == (201, first)
    assert reused.status_code == 422
    assert reused.json()["error"] == "idempotency_key_reused"
    assert todo.get(f"/api/todos/{first['id']}").json() == first
    done = todo.put(f"/api/todos/{first['id']}", json={"done": True})
    assert done.status_code == 200
    assert done.json()["done"] is True
    assert todo.delete(f"/api/todos/{first['id']}").status_code == 204
    assert todo.get(f"/api/todos/{first['id']}").status_code == 404


def test_an_unknown_todo_is_a_json_404(todo: httpx.Client) -> None:
    for response in (
        todo.get(f"/api/todos/{MISSING}"),
        todo.put(f"/api/todos/{MISSING}", json={"done": True}),
        todo.delete(f"/api/todos/{MISSING}"),
    ):
        assert response.status_code == 404
        assert response.json()["status_code"] == 404


def test_pages_hold_new_todos_once_newest_first(todo: httpx.Client, todos: Todos) -> None:
    made = [todos.create(f"page {n}")["id"] for n in range(3)]

    seen: list[str] = []
    url: str | None = "/api/todos?limit=2"
    for _ in range(50):  # others may write meanwhile: ours are within the newest pages
        if url is None or set(made) <= set(seen):
            break
        response = todo.get(url)
        assert response.status_code == 200, response.text
        assert len(response.json()) <= 2
        seen += [item["id"] for item in response.json()]
        link = response.headers.get("Link")
        match = NEXT_LINK.match(link) if link else None
        assert link is None or match, link
        url = match.group("url") if match else None

    assert [todo_id for todo_id in seen if todo_id in made] == made[::-1]


@pytest.mark.parametrize(
    "query", [{"limit": "0"}, {"limit": "ten"}, {"cursor": "nonsense"}, {"cursor": "%00"}]
)
def test_a_bad_page_request_is_a_400_naming_the_parameter(
    todo: httpx.Client, query: dict[str, str]
) -> None:
    response = todo.get("/api/todos", params=query)

    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == next(iter(query))


def test_a_conditional_get_is_304_until_the_list_changes(todo: httpx.Client, todos: Todos) -> None:
    mine = todos.create("etag")

    def unchanged_answer() -> tuple[str, httpx.Response]:
        """Others may write between two reads; the third pair in a row is not to be raced."""
        for _ in range(3):
            etag = todo.get("/api/todos").headers["ETag"]
            again = todo.get("/api/todos", headers={"If-None-Match": etag})
            if again.status_code == 304 or again.headers["ETag"] == etag:
                return etag, again
        raise AssertionError("the list changed under every pair of reads")

    etag, unchanged = unchanged_answer()
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    todo.put(f"/api/todos/{mine['id']}", json={"done": True}).raise_for_status()
    changed = todo.get("/api/todos", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag


JSON = {"Content-Type": "application/json"}
BAD_CREATES: list[Any] = [
    pytest.param({"json": {"text": "x" * 141}}, 400, "text_too_long", id="141 characters"),
    pytest.param({"json": {"text": " \t "}}, 400, "empty_text", id="blank"),
    pytest.param({"json": {"text": 42}}, 400, "text_not_string", id="number"),
    pytest.param({"content": b'{"text": "a"', "headers": JSON}, 400, "invalid_json", id="cut"),
    pytest.param(
        {"content": rb'{"text": "a\u0000b"}', "headers": JSON}, 400, "text_contains_nul", id="nul"
    ),
    pytest.param({"json": {"text": "x" * 1_000_000}}, 413, "body_too_large", id="1 MB"),
    pytest.param({"data": {"text": "a"}}, 415, "unsupported_media_type", id="form"),
    pytest.param({"content": b'{"text": "a"}'}, 415, "unsupported_media_type", id="no type"),
]


@pytest.mark.parametrize(("request_kwargs", "status", "reason"), BAD_CREATES)
def test_bad_input_is_a_4xx_naming_the_rule(
    todo: httpx.Client, request_kwargs: dict[str, Any], status: int, reason: str
) -> None:
    response = todo.post("/api/todos", **request_kwargs)

    assert response.status_code == status, response.text
    body = response.json()
    assert (body["status_code"], body["error"]) == (status, reason)
    assert body["detail"]
