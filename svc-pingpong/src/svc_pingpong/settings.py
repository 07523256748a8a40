"""svc-pingpong configuration: the contract's environment names, typed, read once in `main`."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared_runtime.settings import DatabaseSettings, Port


class PingpongSettings(DatabaseSettings, frozen=True):
    port: Port = 8005
    database_pool_size: Annotated[int, Meta(gt=0)] = 10
    database_retry_max_seconds: Annotated[
        float, Meta(gt=0, description="Longest pause between attempts to reach the database")
    ] = 5.0
