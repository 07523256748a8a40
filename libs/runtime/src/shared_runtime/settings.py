"""Typed settings, read from the environment once, at the edge (the console command)."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ServiceSettings(BaseSettings):
    """The contract's shared environment names; each service extends this with its own."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", frozen=True)

    port: int = Field(default=8000, ge=0, le=65535)
    log_level: str = "INFO"
    data_dir: Path = Path(".data")
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str | None = None


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
