"""svc-todo configuration: the contract's environment names, typed, read once in `main`."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared_runtime.settings import DatabaseUrl, NatsSettings

SERVICE = "svc-todo"


class TodoSettings(NatsSettings, frozen=True):
    port: int = 8000
    database_url: DatabaseUrl = None
    image_refresh_minutes: Annotated[float, Meta(gt=0)] = 60
    image_source_url: str = "https://picsum.photos/1200"
    outbox_sweep_seconds: Annotated[
        float, Meta(gt=0, description="Safety net: the relay also wakes right after each commit")
    ] = 5.0
    outbox_batch_size: Annotated[int, Meta(gt=0)] = 100
    outbox_retention_minutes: Annotated[
        float,
        Meta(
            gt=0,
            description="Published outbox rows are kept this long for inspection, then deleted "
            "(JetStream keeps the events themselves)",
        ),
    ] = 60
    idempotency_retention_hours: Annotated[
        float,
        Meta(
            gt=0,
            description="How long a POST retried with the same Idempotency-Key (or a redelivered "
            "todo command) answers with the first todo; older keys are forgotten",
        ),
    ] = 24
    housekeeping_seconds: Annotated[
        float, Meta(gt=0, description="How often expired outbox rows and keys are deleted")
    ] = 30
    command_max_deliver: Annotated[int, Meta(gt=0)] = 5
