"""svc-wikipedia's settings: where Wikipedia is, how patiently to ask it, how often to suggest."""

from __future__ import annotations

from pydantic import Field

from shared_runtime.settings import NatsSettings


class WikipediaSettings(NatsSettings):
    port: int = Field(default=8002, ge=0, le=65535)
    wikipedia_base_url: str = "https://en.wikipedia.org"
    suggest_every_minutes: int = Field(
        default=60, ge=0, description="Local scheduler period; 0 turns it off (PingSource does it)."
    )
    wikipedia_timeout_seconds: float = Field(default=5.0, gt=0)
    wikipedia_attempts: int = Field(default=3, ge=1, description="Tries per resolution.")
    wikipedia_backoff_seconds: float = Field(
        default=0.5, ge=0, description="First pause between tries; doubles each time."
    )
    redelivery_delay_seconds: float = Field(
        default=30.0, gt=0, description="First NATS redelivery delay after a failure; doubles."
    )
    redelivery_max_delay_seconds: float = Field(default=600.0, gt=0)
    max_deliver: int = Field(default=20, ge=1, description="Deliveries before the dead letter.")
    consume_nats_requests: bool = Field(
        default=True,
        description="Pull `wikipedia.requests`; off in Knative, whose channel delivers by HTTP.",
    )
