"""Broadcaster settings: where messages go, how hard to retry, and the shared consumer."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, model_validator

from shared_runtime.settings import NatsSettings

WebhookFormat = Literal["generic", "slack", "discord", "telegram", "log"]


class BroadcasterSettings(NatsSettings):
    port: int = Field(default=8001, ge=0, le=65535)

    webhook_url: str | None = None
    webhook_format: WebhookFormat = "log"
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_rate_per_second: float = Field(
        default=5.0, ge=0, description="Token-bucket rate per replica; 0 means unlimited."
    )
    webhook_rate_burst: int = Field(default=5, ge=1)
    telegram_api_url: str = "https://api.telegram.org"
    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: SecretStr | None = None

    broadcaster_durable: str = "broadcaster"
    broadcaster_ack_wait_seconds: float = Field(
        default=30.0, gt=0, description="Also the lease of a delivery claim."
    )
    broadcaster_max_deliver: int = Field(default=10, ge=2)
    broadcaster_retry_base_seconds: float = Field(default=1.0, gt=0)
    broadcaster_retry_max_seconds: float = Field(default=300.0, gt=0)
    broadcaster_concurrency: int = Field(default=16, ge=1)
    broadcaster_dedup_bucket: str = "broadcaster_deliveries"
    broadcaster_dedup_ttl_hours: float = Field(
        default=24 * 7, gt=0, description="How long a delivered event id is remembered."
    )

    @model_validator(mode="after")
    def _consistent(self) -> BroadcasterSettings:
        if self.webhook_format in ("generic", "slack", "discord") and not self.webhook_url:
            raise ValueError(f"WEBHOOK_URL is required when WEBHOOK_FORMAT={self.webhook_format}")
        if self.webhook_format == "telegram" and not (
            self.telegram_bot_token and self.telegram_chat_id
        ):
            raise ValueError("TELEGRAM_BOT_TOKEN and TELEGRAM_CHAT_ID are required for telegram")
        if self.broadcaster_ack_wait_seconds <= self.webhook_timeout_seconds:
            raise ValueError(
                "BROADCASTER_ACK_WAIT_SECONDS must be longer than WEBHOOK_TIMEOUT_SECONDS, "
                "or a slow webhook call would be redelivered to another replica mid-flight"
            )
        return self
