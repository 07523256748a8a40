"""svc-wikipedia's settings: where Wikipedia is, how patiently to ask it, how often to suggest."""

from __future__ import annotations

from typing import Annotated

from msgspec import Meta

from shared_runtime.settings import NatsSettings, Port


class WikipediaSettings(NatsSettings, frozen=True):
    port: Port = 8002
    wikipedia_base_url: str = "https://en.wikipedia.org"
    suggest_every_minutes: Annotated[
        int, Meta(ge=0, description="Local scheduler period; 0 turns it off (PingSource does it).")
    ] = 60
    wikipedia_timeout_seconds: Annotated[float, Meta(gt=0)] = 5.0
    wikipedia_attempts: Annotated[int, Meta(ge=1, description="Tries per resolution.")] = 3
    wikipedia_backoff_seconds: Annotated[
        float, Meta(ge=0, description="First pause between tries; doubles each time.")
    ] = 0.5
    redelivery_delay_seconds: Annotated[
        float, Meta(gt=0, description="First NATS redelivery delay after a failure; doubles.")
    ] = 30.0
    redelivery_max_delay_seconds: Annotated[float, Meta(gt=0)] = 600.0
    max_deliver: Annotated[int, Meta(ge=1, description="Deliveries before the dead letter.")] = 20
    consume_nats_requests: Annotated[
        bool,
        Meta(
            description="Pull `wikipedia.requests`; off in Knative, whose channel delivers by HTTP."
        ),
    ] = True
