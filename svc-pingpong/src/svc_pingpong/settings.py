"""svc-pingpong configuration: the contract's environment names, typed, read once in `main`."""

from __future__ import annotations

from pydantic import Field

from shared_runtime.settings import DatabaseSettings


class PingpongSettings(DatabaseSettings):
    port: int = Field(default=8005, ge=0, le=65535)
    database_pool_size: int = Field(default=10, gt=0)
    database_retry_max_seconds: float = Field(
        default=5.0, gt=0, description="Longest pause between attempts to reach the database"
    )
