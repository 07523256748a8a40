"""Rows kept only for a while are forgotten, so a long-running service's tables stay bounded
(a soak found the idempotency keys growing with every keyed POST, for ever)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from litestar.testing import AsyncTestClient

from shared_testkit.polling import eventually
from svc_todo.app import create_app
from svc_todo.housekeeping import Retention, forget_expired
from svc_todo.models import IdempotencyRow, OutboxRow
from svc_todo.settings import TodoSettings

Client = AsyncTestClient[Any]


async def post(client: Client, text: str, key: str) -> dict[str, Any]:
    response = await client.post(
        "/api/todos", json={"text": text}, headers={"Idempotency-Key": key}
    )
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_the_running_service_forgets_idempotency_keys_past_their_retention(
    settings: TodoSettings,
) -> None:
    short = msgspec.structs.replace(
        settings, idempotency_retention_hours=0.2 / 3600, housekeeping_seconds=0.05
    )
    async with AsyncTestClient(create_app(short)) as client:
        await eventually(lambda: _ready(client), message="svc-todo ready")
        first = await post(client, "water the plants", "plants-monday")

        await eventually(lambda: _none_left(IdempotencyRow), message="the key forgotten")
        again = await post(client, "water the plants", "plants-monday")

    assert again["id"] != first["id"]


async def test_what_is_younger_than_its_retention_or_unpublished_is_kept(client: Client) -> None:
    kept_key = await post(client, "pay rent", "rent-2026-12")
    await post(client, "buy stamps", "stamps")
    published = (await OutboxRow.select(OutboxRow.seq).order_by(OutboxRow.seq).first()) or {}
    await OutboxRow.update({OutboxRow.published_at: datetime.now(UTC)}).where(
        OutboxRow.seq == published["seq"]
    )
    retention = Retention(published_events=timedelta(hours=1), idempotency_keys=timedelta(days=1))

    await forget_expired(retention, datetime.now(UTC) + timedelta(minutes=59))
    assert await OutboxRow.count() == 2
    replayed = await post(client, "pay rent", "rent-2026-12")
    assert replayed == kept_key

    await forget_expired(retention, datetime.now(UTC) + timedelta(days=2))
    assert await IdempotencyRow.count() == 0
    unpublished = await OutboxRow.select(OutboxRow.seq, OutboxRow.published_at)
    assert [row["published_at"] for row in unpublished] == [None]  # still owed to the stream
    assert unpublished[0]["seq"] != published["seq"]


async def _ready(client: Client) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def _none_left(table: type[IdempotencyRow]) -> bool:
    return await table.count() == 0
