"""The HTML page and its HTMX fragments: the same rules as the API, and all user text escaped."""

from __future__ import annotations

import os
from typing import Any

from litestar.testing import AsyncTestClient

from shared_testkit.polling import eventually
from svc_todo.settings import TodoSettings

Client = AsyncTestClient[Any]
HTMX = {"HX-Request": "true"}


async def test_page_has_image_form_counter_and_todos(client: Client) -> None:
    await client.post("/api/todos", json={"text": "water the plants"})

    page = await client.get("/")

    assert page.status_code == 200
    assert 'id="hourly-image"' in page.text
    assert 'id="counter"' in page.text
    assert "0/140" in page.text
    assert 'data-limit="140" data-warn-below="20"' in page.text
    assert "water the plants" in page.text
    assert (await client.get("/static/htmx.min.js")).status_code == 200


async def test_user_text_is_escaped_in_html(client: Client) -> None:
    hostile = "<script>alert('x')</script><img src=x onerror=alert(1)>"
    await client.post("/api/todos", json={"text": hostile})

    page = (await client.get("/")).text

    assert "<script>alert" not in page
    assert "<img src=x" not in page
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page


async def test_form_creates_a_todo_and_returns_the_list(client: Client) -> None:
    response = await client.post("/fragments/todos", data={"text": " from the form "}, headers=HTMX)

    assert response.status_code == 200
    assert 'id="todo-list"' in response.text
    assert "from the form" in response.text
    assert [t["text"] for t in (await client.get("/api/todos")).json()] == ["from the form"]


async def test_form_rejects_141_characters_with_an_inline_message(client: Client) -> None:
    response = await client.post("/fragments/todos", data={"text": "a" * 141}, headers=HTMX)

    assert response.status_code == 400
    assert response.headers["HX-Retarget"] == "#form-error"
    assert "at most 140 characters" in response.text
    assert (await client.get("/api/todos")).json() == []


async def test_toggle_and_delete_fragments(client: Client) -> None:
    todo = (await client.post("/api/todos", json={"text": "toggle me"})).json()

    done = await client.put(
        f"/fragments/todos/{todo['id']}/done", data={"done": "true"}, headers=HTMX
    )
    assert done.status_code == 200
    assert 'class="todo done"' in done.text
    assert (await client.get(f"/api/todos/{todo['id']}")).json()["done"] is True

    undone = await client.put(
        f"/fragments/todos/{todo['id']}/done", data={"done": "false"}, headers=HTMX
    )
    assert 'class="todo"' in undone.text

    removed = await client.delete(f"/fragments/todos/{todo['id']}", headers=HTMX)
    assert removed.status_code == 200
    assert removed.text == ""
    assert (await client.get("/api/todos")).json() == []


UNAVAILABLE = "No image yet: the image source is unavailable. Retrying every minute."
JPEG = b"\xff\xd8\xff\xe0" + b"picture" * 100


async def test_without_an_image_the_page_says_so_and_keeps_asking(client: Client) -> None:
    """The test settings point the image source at a closed port."""

    async def says_unavailable() -> bool:
        return UNAVAILABLE in (await client.get("/fragments/image")).text

    await eventually(says_unavailable, message="the page says the source is unavailable")
    page = (await client.get("/")).text
    assert UNAVAILABLE in page
    assert 'hx-get="/fragments/image"' in page
    assert "<img" not in page  # no picture claims to be "a random picture"
    placeholder = await client.get("/image")
    assert placeholder.headers["content-type"].startswith("image/svg+xml")
    assert UNAVAILABLE in placeholder.text


async def test_the_last_good_image_is_shown_while_the_source_is_down(
    client: Client, settings: TodoSettings
) -> None:
    saved = settings.data_dir / "image" / "image"
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_bytes(JPEG)
    day_ago = saved.stat().st_mtime - 86400
    os.utime(saved, (day_ago, day_ago))  # stale: a refresh is due, and fails

    fragment = (await client.get("/fragments/image")).text
    assert "hx-get" not in fragment
    assert "No image yet" not in fragment
    src = f"/image?v={saved.stat().st_mtime_ns}"
    assert f'src="{src}"' in fragment
    assert (await client.get(src)).content == JPEG
