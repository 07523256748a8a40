"""The REST contract, on SQLite with NATS down: writes are accepted and answered correctly."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

Client = AsyncTestClient[Any]


async def create(client: Client, text: str, **headers: str) -> dict[str, Any]:
    response = await client.post("/api/todos", json={"text": text}, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_created_todo_is_trimmed_and_listed_newest_first(client: Client) -> None:
    first = await create(client, "  buy milk  ")
    second = await create(client, "walk the dog")

    assert first["text"] == "buy milk"
    assert first["done"] is False
    assert first["created_at"] == first["updated_at"]
    listed = (await client.get("/api/todos")).json()
    assert [t["id"] for t in listed] == [second["id"], first["id"]]


TODO_JSON = re.compile(
    rb'\{"id":"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}","text":"buy milk",'
    rb'"done":false,"created_at":"(?P<at>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z)",'
    rb'"updated_at":"(?P=at)"\}'
)


async def test_a_todo_has_one_json_form_wherever_it_is_read(client: Client) -> None:
    """Created, read alone or listed, a todo is the contract's JSON byte for byte: its fields in
    order, the id as a string, times in UTC written with `Z`."""
    created = (await client.post("/api/todos", json={"text": " buy milk "})).content

    assert TODO_JSON.fullmatch(created), created
    todo_id = json.loads(created)["id"]
    assert (await client.get(f"/api/todos/{todo_id}")).content == created
    assert (await client.get("/api/todos")).content == b"[" + created + b"]"


async def test_get_update_and_delete_one_todo(client: Client) -> None:
    todo = await create(client, "read a book")

    assert (await client.get(f"/api/todos/{todo['id']}")).json() == todo
    done = (await client.put(f"/api/todos/{todo['id']}", json={"done": True})).json()
    assert done["done"] is True
    assert done["updated_at"] > todo["updated_at"]
    renamed = await client.put(f"/api/todos/{todo['id']}", json={"text": " read two books "})
    assert renamed.json()["text"] == "read two books"
    assert (await client.delete(f"/api/todos/{todo['id']}")).status_code == 204
    assert (await client.get(f"/api/todos/{todo['id']}")).status_code == 404
    assert (await client.delete(f"/api/todos/{todo['id']}")).status_code == 404


async def test_unknown_todo_is_404_with_json(client: Client) -> None:
    missing = "00000000-0000-4000-8000-000000000000"
    for response in (
        await client.get(f"/api/todos/{missing}"),
        await client.put(f"/api/todos/{missing}", json={"done": True}),
        await client.delete(f"/api/todos/{missing}"),
    ):
        assert response.status_code == 404
        assert response.json()["status_code"] == 404


async def test_retried_post_with_idempotency_key_returns_the_original(client: Client) -> None:
    first = await create(client, "pay rent", **{"Idempotency-Key": "rent-2026-11"})
    again = await client.post(
        "/api/todos", json={"text": "pay rent"}, headers={"Idempotency-Key": "rent-2026-11"}
    )

    assert again.status_code == 201
    assert again.json() == first
    assert len((await client.get("/api/todos")).json()) == 1


async def test_a_key_reused_with_a_different_body_is_refused_with_422(client: Client) -> None:
    first = await create(client, "pay rent", **{"Idempotency-Key": "rent-2026-12"})
    same_after_trimming = await client.post(
        "/api/todos", json={"text": "  pay rent "}, headers={"Idempotency-Key": "rent-2026-12"}
    )
    other = await client.post(
        "/api/todos", json={"text": "pay the gym"}, headers={"Idempotency-Key": "rent-2026-12"}
    )

    assert same_after_trimming.status_code == 201
    assert same_after_trimming.json() == first
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    assert [t["text"] for t in (await client.get("/api/todos")).json()] == ["pay rent"]


async def test_concurrent_posts_with_one_key_create_one_todo(client: Client) -> None:
    responses = await asyncio.gather(
        *(
            client.post("/api/todos", json={"text": "once"}, headers={"Idempotency-Key": "k"})
            for _ in range(8)
        )
    )

    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert len((await client.get("/api/todos")).json()) == 1


@pytest.mark.parametrize(
    "text",
    [
        "🙂" * 140,  # emoji count as one character each
        "e\u0301" * 70,  # combining accents: 140 code points
        "'; DROP TABLE todo; --",
        "<script>alert('x')</script>",
        "Robert'); DELETE FROM todo_outbox WHERE ('1'='1",
        "x" * 140,
    ],
)
async def test_unusual_but_valid_text_is_stored_verbatim(client: Client, text: str) -> None:
    todo = await create(client, text)

    assert todo["text"] == text
    assert (await client.get(f"/api/todos/{todo['id']}")).json()["text"] == text


BAD_INPUT: list[tuple[str, dict[str, Any], int, str]] = [
    ("141 characters", {"json": {"text": "x" * 141}}, 400, "text_too_long"),
    ("141 emoji", {"json": {"text": "🙂" * 141}}, 400, "text_too_long"),
    ("empty", {"json": {"text": ""}}, 400, "empty_text"),
    ("whitespace only", {"json": {"text": " \t\n "}}, 400, "empty_text"),
    ("missing text", {"json": {}}, 400, "missing_text"),
    ("null text", {"json": {"text": None}}, 400, "missing_text"),
    ("number", {"json": {"text": 42}}, 400, "text_not_string"),
    ("list", {"json": {"text": ["a"]}}, 400, "text_not_string"),
    ("unknown field", {"json": {"text": "a", "admin": True}}, 400, "unknown_field"),
    ("array body", {"json": ["a"]}, 400, "body_not_object"),
    (
        "invalid JSON",
        {"content": b'{"text": "a"', "headers": {"Content-Type": "application/json"}},
        400,
        "invalid_json",
    ),
    (
        "not UTF-8",
        {"content": b'{"text": "\xff"}', "headers": {"Content-Type": "application/json"}},
        400,
        "invalid_json",
    ),
    ("1 MB body", {"json": {"text": "x" * 1_000_000}}, 413, "body_too_large"),
    ("form encoded", {"data": {"text": "a"}}, 415, "unsupported_media_type"),
    (
        "plain text",
        {"content": b"a", "headers": {"Content-Type": "text/plain"}},
        415,
        "unsupported_media_type",
    ),
    ("no content type", {"content": b'{"text": "a"}'}, 415, "unsupported_media_type"),
]


@pytest.mark.parametrize(
    ("request_kwargs", "status", "reason"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
async def test_bad_create_input_gets_4xx_naming_the_rule(
    client: Client, request_kwargs: dict[str, Any], status: int, reason: str
) -> None:
    response = await client.post("/api/todos", **request_kwargs)

    assert response.status_code == status
    assert response.json()["error"] == reason
    assert response.json()["detail"]
    assert (await client.get("/api/todos")).json() == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({}, "no_fields"),
        ({"done": "yes"}, "done_not_boolean"),
        ({"text": "   "}, "empty_text"),
        ({"text": "y" * 141}, "text_too_long"),
        ({"text": None}, "text_not_string"),
        ({"colour": "red"}, "unknown_field"),
    ],
)
async def test_bad_update_input_gets_400_and_changes_nothing(
    client: Client, body: dict[str, Any], reason: str
) -> None:
    todo = await create(client, "unchanged")

    response = await client.put(f"/api/todos/{todo['id']}", json=body)

    assert response.status_code == 400
    assert response.json()["error"] == reason
    assert (await client.get(f"/api/todos/{todo['id']}")).json() == todo


async def test_malformed_ids_and_headers_are_client_errors(client: Client) -> None:
    assert (await client.get("/api/todos/not-a-uuid")).status_code in {400, 404}
    too_long_key = {"Idempotency-Key": "k" * 201}
    response = await client.post("/api/todos", json={"text": "a"}, headers=too_long_key)
    assert response.status_code == 400


async def test_rejections_are_counted_by_reason(client: Client) -> None:
    def rejected(metrics: str, reason: str) -> float:
        prefix = f'todos_rejected_total{{reason="{reason}"}} '
        lines = [line for line in metrics.splitlines() if line.startswith(prefix)]
        return float(lines[0].removeprefix(prefix)) if lines else 0.0

    before = rejected((await client.get("/metrics")).text, "text_too_long")
    await client.post("/api/todos", json={"text": "z" * 141})
    after = rejected((await client.get("/metrics")).text, "text_too_long")

    assert after == before + 1


async def test_health_readiness_and_schemas(client: Client) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ready"}
    openapi = (await client.get("/schema/openapi.json")).json()
    assert "/api/todos" in openapi["paths"]
    asyncapi = (await client.get("/asyncapi.json")).json()
    addresses = {channel["address"] for channel in asyncapi["channels"].values()}
    assert {"todos.commands.create", "todos.events.created", "todos.events.deleted"} <= addresses


async def test_the_openapi_document_describes_bodies_and_error_answers(client: Client) -> None:
    document = (await client.get("/schema/openapi.json")).json()
    todos, one = document["paths"]["/api/todos"], document["paths"]["/api/todos/{todo_id}"]

    create = todos["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert create["required"] == ["text"]
    assert create["properties"]["text"]["maxLength"] == 140
    assert create["additionalProperties"] is False
    update = one["put"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(update["properties"]) == {"text", "done"}
    assert {"400", "413", "415", "422", "503"} <= set(todos["post"]["responses"])
    assert {"400", "404", "413", "415", "503"} <= set(one["put"]["responses"])
    assert "404" in one["get"]["responses"]
    assert "404" in one["delete"]["responses"]
