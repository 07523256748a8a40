"""Forgetting what is kept only for a while: published outbox rows and idempotency keys.

Both tables gain a row with writes; without this they would grow for as long as the service
runs. Unpublished outbox rows are never touched, however old: they are events still owed to the
stream.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from svc_todo.models import IdempotencyRow, OutboxRow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    published_events: timedelta
    """Published outbox rows, kept for inspection; JetStream keeps the events themselves."""
    idempotency_keys: timedelta
    """How long a retried POST with the same `Idempotency-Key` answers with the first todo."""


async def forget_expired(retention: Retention, now: datetime) -> None:
    await OutboxRow.delete().where(OutboxRow.published_at < now - retention.published_events)
    await IdempotencyRow.delete().where(
        IdempotencyRow.created_at < now - retention.idempotency_keys
    )


async def keep_tidy(
    retention: Retention, every_seconds: float, after: Callable[[], Awaitable[None]]
) -> None:
    """Until cancelled, once `after` returns (the schema exists): forget what expired, every
    `every_seconds`; a failed sweep (the database away) waits for the next one."""
    await after()
    while True:
        try:
            await forget_expired(retention, datetime.now(UTC))
        except Exception as exc:  # noqa: BLE001 - what expired is still there next time
            log.warning("housekeeping failed", extra={"error": repr(exc)})
        await asyncio.sleep(every_seconds)
