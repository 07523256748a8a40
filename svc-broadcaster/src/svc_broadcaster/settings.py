"""Broadcaster settings: where messages go, how fast, how hard to retry, and the shared consumer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from msgspec import Meta

from shared_contracts.catalog import BROADCASTER, DeliverFrom
from shared_runtime.delivery import Backoff, ConsumerOptions
from shared_runtime.settings import NatsSettings, Port, Secret

WebhookFormat = Literal["generic", "slack", "discord", "telegram", "log"]

PUBLISHED_RATE_LIMITS: dict[str, tuple[float, int]] = {
    "slack": (1.0, 3),  # incoming webhooks: one message per second, short bursts allowed
    "discord": (0.5, 5),  # webhooks: 30 messages a minute per channel, 5 per 2 s burst
    "telegram": (1.0, 3),  # bots: about one message per second in one chat
}
"""(calls per second, burst) a chat service publishes for one destination; others: unlimited."""


class BroadcasterSettings(NatsSettings, frozen=True):
    port: Port = 8001

    webhook_url: str | None = None
    webhook_format: WebhookFormat = "log"
    webhook_timeout_seconds: Annotated[float, Meta(gt=0)] = 10.0
    webhook_rate_per_second: (
        Annotated[
            float,
            Meta(
                ge=0,
                description="Calls per second per replica; unset: the chat service's published "
                "limit (Slack, Discord, Telegram), else unlimited; 0 means unlimited.",
            ),
        ]
        | None
    ) = None
    webhook_rate_burst: Annotated[int, Meta(ge=1)] | None = None
    telegram_api_url: str = "https://api.telegram.org"
    telegram_bot_token: Secret | None = None
    telegram_chat_id: Secret | None = None

    broadcaster_durable: str = BROADCASTER.durable
    broadcaster_start_at: Annotated[
        Literal["new", "all"] | str,
        Meta(
            description="Where a new durable (a new destination) starts: `new` events only, the "
            "stream's whole history (`all`), or from an RFC 3339 time. An existing durable "
            "continues where it stopped."
        ),
    ] = "new"
    broadcaster_ack_wait_seconds: Annotated[
        float, Meta(gt=0, description="Also the lease of a delivery claim.")
    ] = BROADCASTER.ack_wait.total_seconds()
    broadcaster_max_deliver: Annotated[int, Meta(ge=2)] = BROADCASTER.max_deliver
    broadcaster_retry_base_seconds: Annotated[float, Meta(gt=0)] = 1.0
    broadcaster_retry_max_seconds: Annotated[float, Meta(gt=0)] = 300.0
    broadcaster_concurrency: Annotated[int, Meta(ge=1)] = 64
    broadcaster_dedup_bucket: str = "broadcaster_deliveries"
    broadcaster_dedup_ttl_hours: Annotated[
        float, Meta(gt=0, description="How long a delivered event id is remembered.")
    ] = 24 * 7

    def __post_init__(self) -> None:
        """The rules between settings; also checks BROADCASTER_START_AT, a choice or a time."""
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
        start_position(self.broadcaster_start_at)

    @property
    def start_from(self) -> DeliverFrom | datetime:
        return start_position(self.broadcaster_start_at)

    @property
    def rate_limit(self) -> tuple[float, int]:
        """(calls per second, burst) for this replica; a rate of 0 means unlimited."""
        rate, burst = PUBLISHED_RATE_LIMITS.get(self.webhook_format, (0.0, 1))
        if self.webhook_rate_per_second is not None:
            rate = self.webhook_rate_per_second
        return rate, self.webhook_rate_burst or burst

    def consumer_options(self) -> ConsumerOptions:
        return ConsumerOptions(
            concurrency=self.broadcaster_concurrency,
            ack_wait=timedelta(seconds=self.broadcaster_ack_wait_seconds),
            max_deliver=self.broadcaster_max_deliver,
            backoff=Backoff(
                self.broadcaster_retry_base_seconds, self.broadcaster_retry_max_seconds
            ),
            deliver_from=self.start_from,
            declare=self.declare_streams,
        )


def start_position(start_at: str) -> DeliverFrom | datetime:
    """BROADCASTER_START_AT read: `new`, `all`, or a time (RFC 3339 or any ISO 8601 form, or
    Unix seconds), the inputs it always took."""
    if start_at in ("new", "all"):
        return DeliverFrom(start_at)
    try:
        return datetime.fromtimestamp(float(start_at), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        return datetime.fromisoformat(start_at)
    except ValueError:
        raise ValueError("BROADCASTER_START_AT: expected new, all or an RFC 3339 time") from None
