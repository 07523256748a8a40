"""svc-todo configuration: the contract's environment names, typed, read once in `main`."""

from __future__ import annotations

from pydantic import Field

from shared_runtime.settings import DatabaseSettings, NatsSettings

SERVICE = "svc-todo"


class TodoSettings(NatsSettings, DatabaseSettings):
    port: int = 8000
    image_refresh_minutes: float = Field(default=60, gt=0)
    image_source_url: str = "https://picsum.photos/1200"
    outbox_sweep_seconds: float = Field(
        default=5.0, gt=0, description="Safety net: the relay also wakes right after each commit"
    )
    outbox_batch_size: int = Field(default=100, gt=0)
    outbox_retention_minutes: float = Field(
        default=60,
        gt=0,
        description="Published outbox rows are kept this long for inspection, then deleted "
        "(JetStream keeps the events themselves)",
    )
    idempotency_retention_hours: float = Field(
        default=24,
        gt=0,
        description="How long a POST retried with the same Idempotency-Key (or a redelivered "
        "todo command) answers with the first todo; older keys are forgotten",
    )
    housekeeping_seconds: float = Field(
        default=30, gt=0, description="How often expired outbox rows and keys are deleted"
    )
    command_max_deliver: int = Field(default=5, gt=0)
