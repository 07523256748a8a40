"""Broadcaster settings: where messages go, how fast, how hard to retry, and the shared consumer."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from shared_contracts.catalog import BROADCASTER, DeliverFrom
from shared_runtime.delivery import Backoff, ConsumerOptions
from shared_runtime.settings import NatsSettings

WebhookFormat = Literal["generic", "slack", "discord", "telegram", "log"]

PUBLISHED_RATE_LIMITS: dict[str, tuple[float, int]] = {
    "slack": (1.0, 3),  # incoming webhooks: one message per second, short bursts allowed
    "discord": (0.5, 5),  # webhooks: 30 messages a minute per channel, 5 per 2 s burst
    "telegram": (1.0, 3),  # bots: about one message per second in one chat
}
"""(calls per second, burst) a chat service publishes for one destination; others: unlimited."""


class BroadcasterSettings(NatsSettings):
    port: int = Field(default=8001, ge=0, le=65535)

    webhook_url: str | None = None
    webhook_format: WebhookFormat = "log"
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    webhook_rate_per_second: float | None = Field(
        default=None,
        ge=0,
        description="Calls per second per replica; unset: the chat service's published limit "
        "(Slack, Discord, Telegram), else unlimited; 0 means unlimited.",
    )
    webhook_rate_burst: int | None = Field(default=None, ge=1)
    telegram_api_url: str = "https://api.telegram.org"
    telegram_bot_token: SecretStr | None = None
    telegram_chat_id: SecretStr | None = None

    broadcaster_durable: str = BROADCASTER.durable
    broadcaster_start_at: Literal["new", "all"] | datetime = Field(
        default="new",
        description="Where a new durable (a new destination) starts: `new` events only, the "
        "stream's whole history (`all`), or from an RFC 3339 time. An existing durable "
        "continues where it stopped.",
    )
    broadcaster_ack_wait_seconds: float = Field(
        default=BROADCASTER.ack_wait.total_seconds(),
        gt=0,
        description="Also the lease of a delivery claim.",
    )
    broadcaster_max_deliver: int = Field(default=BROADCASTER.max_deliver, ge=2)
    broadcaster_retry_base_seconds: float = Field(default=1.0, gt=0)
    broadcaster_retry_max_seconds: float = Field(default=300.0, gt=0)
    broadcaster_concurrency: int = Field(default=64, ge=1)
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

    @property
    def rate_limit(self) -> tuple[float, int]:
        """(calls per second, burst) for this replica; a rate of 0 means unlimited."""
        rate, burst = PUBLISHED_RATE_LIMITS.get(self.webhook_format, (0.0, 1))
        if self.webhook_rate_per_second is not None:
            rate = self.webhook_rate_per_second
        return rate, self.webhook_rate_burst or burst

    def consumer_options(self) -> ConsumerOptions:
        start = self.broadcaster_start_at
        return ConsumerOptions(
            concurrency=self.broadcaster_concurrency,
            ack_wait=timedelta(seconds=self.broadcaster_ack_wait_seconds),
            max_deliver=self.broadcaster_max_deliver,
            backoff=Backoff(
                self.broadcaster_retry_base_seconds, self.broadcaster_retry_max_seconds
            ),
            deliver_from=start if isinstance(start, datetime) else DeliverFrom(start),
            declare=self.declare_streams,
        )
