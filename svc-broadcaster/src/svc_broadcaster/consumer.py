"""What happens to one todo event: at most one chat message for it, across every replica.

Everything else (pulling, acks, back-off, dead letters, shutdown) is the shared delivery path in
`shared_runtime.delivery`. Every replica binds the same durable consumer, so JetStream hands each
event to one replica at a time; the ledger covers the rest (redeliveries after a crash, a
republished event): claim the event id, call the webhook, mark it sent.

The "sent" mark is pipelined with the ack: the handler returns once the webhook answered and the
mark goes out beside the ack instead of before it. While a mark is still on its way (retried
through a NATS outage for up to the claim's lease), a redelivery of that event to this replica
is recognised here and not sent again.
"""

from __future__ import annotations

import asyncio
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
        self._marking: dict[str, asyncio.Task[bool]] = {}

    async def finish(self) -> None:
        """At shutdown: let the "sent" marks on their way reach the ledger."""
        await asyncio.gather(*self._marking.values())

    async def __call__(self, delivery: Delivery) -> str:
        announcement = announcement_for(delivery.event)
        event_id = delivery.event.id
        if event_id in self._marking:
            return "duplicate"  # sent by this replica a moment ago; its mark is on its way
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
            mark = asyncio.create_task(
                self._ledger.mark_sent(verdict.claim, give_up_after=self._lease_seconds)
            )
            self._marking[event_id] = mark
            mark.add_done_callback(lambda _: self._marking.pop(event_id, None))
            log.info("event broadcast", extra={"event_id": event_id, "subject": delivery.subject})
            return "sent"
        await self._ledger.release(verdict.claim)
        if isinstance(outcome, webhook.Retry):
            raise Retry(outcome.reason, after_seconds=outcome.after_seconds)
        raise Reject(outcome.reason)
