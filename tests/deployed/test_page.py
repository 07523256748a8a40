"""The page through svc-todo's public host: served with its assets, its form creating todos and
refusing bad text inline, and open pages told of changes live (server-sent events)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import httpx

if TYPE_CHECKING:
    from conftest import Target, Todos

FORM = {"Content-Type": "application/x-www-form-urlencoded", "HX-Request": "true"}


def test_the_page_lists_a_new_todo_and_loads_its_assets(todo: httpx.Client, todos: Todos) -> None:
    mine = todos.create("on the page")

    page = todo.get("/")

    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="todo-text"' in page.text
    assert mine["text"] in page.text
    for asset in ("/static/htmx.min.js", "/static/app.js", "/static/app.css"):
        assert todo.get(asset).status_code == 200, asset


def test_the_form_creates_a_todo_and_refuses_bad_text_inline(
    todo: httpx.Client, todos: Todos
) -> None:
    text = todos.text("from the form")
    created = todo.post("/fragments/todos", content=urlencode({"text": text}), headers=FORM)
    [mine] = [t for t in todo.get("/api/todos", params={"limit": 100}).json() if t["text"] == text]
    todos.remember(mine["id"])
    refused = todo.post("/fragments/todos", content=b"text=" + b"y" * 141, headers=FORM)

    assert created.status_code == 200
    assert text in created.text
    assert refused.status_code == 400
    assert refused.headers["HX-Retarget"] == "#form-error"
    assert "at most 140 characters" in refused.text


def test_an_open_page_hears_of_a_new_todo_within_seconds(target: Target, todos: Todos) -> None:
    with (
        httpx.Client(base_url=target.todo_url, timeout=10) as page,
        page.stream("GET", "/events") as events,
    ):
        assert events.status_code == 200
        assert events.headers["content-type"].startswith("text/event-stream")
        sent = time.monotonic()
        todos.create("heard live")
        heard = []
        for line in events.iter_lines():
            heard.append(line)
            if line == "data: todo.created.v1" or time.monotonic() - sent > 10:
                break
        elapsed = time.monotonic() - sent

    assert "event: todos" in heard
    assert heard[-1] == "data: todo.created.v1"
    assert elapsed < 5
