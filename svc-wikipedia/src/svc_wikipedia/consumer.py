"""The NATS trigger: `wikipedia.requests` through the shared delivery path, one more trigger of
the same `Suggester` the HTTP trigger and the scheduler use.

A request that fails because Wikipedia or JetStream is down is redelivered later with a growing
delay; one that can never succeed (not a CloudEvent, wrong type) goes to `dlq.wikipedia` at once,
and one that keeps failing goes there after `max_deliver` deliveries.
"""

from __future__ import annotations

from shared_contracts.catalog import WIKIPEDIA_CONSUMER, WIKIPEDIA_REQUESTED
from shared_contracts.cloudevents import InvalidEvent
from shared_runtime.delivery import Backoff, ConsumerOptions, Delivery, Reject, Retry
from svc_wikipedia.metrics import FAILURES
from svc_wikipedia.settings import WikipediaSettings
from svc_wikipedia.suggestions import Suggester, SuggestionFailed, trigger_id

DURABLE_NAME = WIKIPEDIA_CONSUMER.durable
STOP_GRACE_SECONDS = 3.0
"""A request in hand at shutdown gets this long, then is handed back for prompt redelivery."""
ACCEPTED_TYPES = frozenset({WIKIPEDIA_REQUESTED.event_type})


class SuggestOnRequest:
    """The handler the delivery path runs for every request."""

    def __init__(self, suggester: Suggester) -> None:
        self._suggester = suggester

    async def __call__(self, delivery: Delivery) -> str:
        try:
            trigger = trigger_id(delivery.event, ACCEPTED_TYPES)
        except InvalidEvent as bad:
            FAILURES.labels("invalid_event").inc()
            raise Reject(str(bad)) from bad
        try:
            suggestion = await self._suggester.suggest(trigger)
        except SuggestionFailed as failure:
            raise Retry(str(failure)) from failure
        return "duplicate" if suggestion.duplicate else "published"


def consumer_options(settings: WikipediaSettings) -> ConsumerOptions:
    return ConsumerOptions(
        concurrency=4,
        ack_wait=WIKIPEDIA_CONSUMER.ack_wait,
        max_deliver=settings.max_deliver,
        backoff=Backoff(settings.redelivery_delay_seconds, settings.redelivery_max_delay_seconds),
        declare=settings.declare_streams,
    )
