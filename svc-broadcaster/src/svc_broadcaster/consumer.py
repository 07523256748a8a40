"""What happens to one todo event: at most one chat message for it, across every replica.

Everything else (pulling, acks, back-off, dead letters, shutdown) is the shared delivery path in
`shared_runtime.delivery`. Every replica binds the same durable consumer, so JetStream hands each
event to one replica at a time; the ledger covers the rest (redeliveries after a crash, a
republished event): claim the event id, call the webhook, mark it sent.
"""

from __future__ import annotations

import logging

from shared_runtime.delivery import Delivery, Reject, Retry
from svc_broadcaster import webhook
from svc_broadcaster.events import announcement_for
from svc_broadcaster.ledger import AlreadySent, Claimed, DeliveryLedger, HeldElsewhere

log = logging.getLogger(__name__)


class Broadcast:
    """The handler the delivery path runs for every todo event."""

    def __init__(
        self, ledger: DeliveryLedger, destination: webhook.Webhook, *, lease_seconds: float
    ) -> None:
        self._ledger = ledger
        self._webhook = destination
        self._lease_seconds = lease_seconds

    async def __call__(self, delivery: Delivery) -> str:
        announcement = announcement_for(delivery.event)
        event_id = delivery.event.id
        # Wait for the destination's rate limit before claiming, so the lease is not spent queueing.
        await self._webhook.wait_for_turn()
        verdict = await self._ledger.claim(event_id)
        if isinstance(verdict, AlreadySent):
            log.info("duplicate event skipped", extra={"event_id": event_id})
            return "duplicate"
        if isinstance(verdict, HeldElsewhere):
            raise Retry(
                f"claimed by {verdict.holder}",
                after_seconds=verdict.retry_in_seconds,
                outcome="deferred",
            )
        assert isinstance(verdict, Claimed)
        outcome = await self._webhook.send(event_id, announcement.text)
        if isinstance(outcome, webhook.Sent):
            await self._ledger.mark_sent(verdict.claim, give_up_after=self._lease_seconds)
            log.info("event broadcast", extra={"event_id": event_id, "subject": delivery.subject})
            return "sent"
        await self._ledger.release(verdict.claim)
        if isinstance(outcome, webhook.Retry):
            raise Retry(outcome.reason, after_seconds=outcome.after_seconds)
        raise Reject(outcome.reason)
