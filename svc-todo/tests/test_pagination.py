"""`GET /api/todos` pages: newest first, cursors that survive concurrent writes, conditional GET,
and the page's "load more" for long lists."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from svc_todo.listing import DEFAULT_LIMIT, MAX_LIMIT
from svc_todo.models import TodoRow

Client = AsyncTestClient[Any]
NEXT_LINK = re.compile(r'^<(?P<url>[^>]+)>; rel="next"$')


async def create(client: Client, text: str) -> dict[str, Any]:
    response = await client.post("/api/todos", json={"text": text})
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def next_url(response: Any) -> str | None:
    link = response.headers.get("Link")
    if link is None:
        return None
    match = NEXT_LINK.match(link)
    assert match, link
    return match.group("url")


async def all_pages(client: Client, url: str) -> list[list[dict[str, Any]]]:
    pages = []
    next_page: str | None = url
    while next_page is not None:
        response = await client.get(next_page)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        next_page = next_url(response)
    return pages


async def test_pages_hold_every_todo_once_newest_first(client: Client) -> None:
    created = [await create(client, f"todo {n}") for n in range(7)]

    pages = await all_pages(client, "/api/todos?limit=3")

    assert [len(page) for page in pages] == [3, 3, 1]
    assert [todo for page in pages for todo in page] == created[::-1]


async def test_default_page_size_and_its_maximum(client: Client) -> None:
    for n in range(DEFAULT_LIMIT + 1):
        await create(client, f"todo {n}")

    first = await client.get("/api/todos")
    assert len(first.json()) == DEFAULT_LIMIT
    assert next_url(first) is not None
    everything = await client.get(f"/api/todos?limit={MAX_LIMIT}")
    assert len(everything.json()) == DEFAULT_LIMIT + 1
    assert "Link" not in everything.headers
    for limit in (0, -1, MAX_LIMIT + 1, "ten"):
        response = await client.get(f"/api/todos?limit={limit}")
        assert response.status_code == 400
        assert response.json()["extra"][0]["key"] == "limit"


async def test_todos_created_at_the_same_instant_are_ordered_by_id(client: Client) -> None:
    instant = datetime.now(UTC)
    ids = sorted((uuid.uuid4() for _ in range(5)), reverse=True)
    for todo_id in ids:
        await TodoRow.insert(
            TodoRow(id=todo_id, text="tied", done=False, created_at=instant, updated_at=instant)
        )

    pages = await all_pages(client, "/api/todos?limit=2")

    assert [todo["id"] for page in pages for todo in page] == [str(i) for i in ids]


async def test_cursor_is_stable_while_todos_are_created(client: Client) -> None:
    before = [await create(client, f"before {n}") for n in range(6)]
    first = await client.get("/api/todos?limit=2")
    url = next_url(first)
    assert url is not None

    # Writers keep adding todos while the reader follows its cursor.
    writers = asyncio.gather(*(create(client, f"during {n}") for n in range(10)))
    rest = await all_pages(client, url)
    await writers

    read = [*first.json(), *(todo for page in rest for todo in page)]
    assert [todo["id"] for todo in read] == [todo["id"] for todo in before[::-1]]


@pytest.mark.parametrize(
    "cursor",
    ["nonsense", "", "bm90IGEgY3Vyc29y", "MjAyNi0xMS0zMFQyMjo0Mnxub3QtYS11dWlk", "%00", "x" * 201],
)
async def test_bad_cursor_is_400_with_a_reason(client: Client, cursor: str) -> None:
    await create(client, "something")

    response = await client.get("/api/todos", params={"cursor": cursor})

    assert response.status_code == 400
    assert response.json()["extra"][0]["key"] == "cursor"


async def test_conditional_get_answers_304_until_the_list_changes(client: Client) -> None:
    todo = await create(client, "watch me")
    first = await client.get("/api/todos")
    etag = first.headers["ETag"]

    unchanged = await client.get("/api/todos", headers={"If-None-Match": etag})
    assert unchanged.status_code == 304
    assert unchanged.content == b""
    assert unchanged.headers["ETag"] == etag
    listed = await client.get("/api/todos", headers={"If-None-Match": f'"other", W/{etag}'})
    assert listed.status_code == 304

    await client.put(f"/api/todos/{todo['id']}", json={"done": True})
    changed = await client.get("/api/todos", headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.json()[0]["done"] is True
    assert changed.headers["ETag"] != etag


async def test_every_page_has_its_own_etag(client: Client) -> None:
    for n in range(4):
        await create(client, f"todo {n}")
    first = await client.get("/api/todos?limit=2")
    second = await client.get(next_url(first) or "")

    assert first.headers["ETag"] != second.headers["ETag"]
    assert (await client.get("/api/todos")).headers["ETag"] not in {
        first.headers["ETag"],
        second.headers["ETag"],
    }


async def test_listed_todos_are_exactly_what_get_one_returns(client: Client) -> None:
    todo = await create(client, "same everywhere")
    await client.put(f"/api/todos/{todo['id']}", json={"done": True})

    listed = (await client.get("/api/todos")).json()

    assert listed == [(await client.get(f"/api/todos/{todo['id']}")).json()]


async def test_page_loads_more_of_a_long_list(client: Client) -> None:
    for n in range(DEFAULT_LIMIT + 3):
        await create(client, f"item number {n}")

    page = (await client.get("/")).text
    assert f"item number {DEFAULT_LIMIT + 2}<" in page
    assert "item number 2<" not in page
    more = re.search(r'hx-get="(/fragments/todos/more\?cursor=[^"]+)"', page)
    assert more is not None

    fragment = await client.get(more.group(1), headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert [f"item number {n}" for n in (2, 1, 0)] == re.findall(r"item number \d+", fragment.text)
    assert "Load more" not in fragment.text
    bad = await client.get("/fragments/todos/more?cursor=nonsense")
    assert bad.status_code == 400
