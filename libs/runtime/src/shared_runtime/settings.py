"""Typed settings, read from the environment once, at the edge (the console command)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator


class ServiceSettings(BaseModel):
    """The contract's shared environment names; each service extends this with its own.

    A field not passed explicitly is read from the environment variable of the same name in
    upper case (`port` from `PORT`). A plain pydantic model instead of pydantic-settings: the
    same validation, without its import cost in every cold start.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"
    data_dir: Path = Path(".data")
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str | None = None
    http_header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A request's headers must arrive within this, or the "
        "connection is closed (half-sent headers would otherwise hold it forever).",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_environment(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        environment = {
            name: value
            for name in cls.model_fields
            if name not in data and (value := os.environ.get(name.upper())) is not None
        }
        return {**environment, **data}


class NatsSettings(ServiceSettings):
    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: SecretStr | None = None
    nats_creds: Path | None = None
    declare_streams: bool = Field(
        default=True,
        description="Locally services declare their streams; in Kubernetes NACK resources do.",
    )


class DatabaseSettings(ServiceSettings):
    database_url: str | None = Field(
        default=None, description="postgres://…; unset means an SQLite file under DATA_DIR"
    )
