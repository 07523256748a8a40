"""What happens to one todo event: at most one chat message for it, across every replica.

Everything else (pulling, acks, back-off, dead letters, shutdown) is the shared delivery path in
`shared_runtime.delivery`. Every replica binds the same durable consumer, so JetStream hands each
event to one replica at a time; the ledger covers the rest (redeliveries after a crash, a
republished event): claim the event id, wait for the todo's previous event to be settled
(`ordering`), call the webhook, mark it sent.

The "sent" mark is pipelined with the ack: the handler returns once the webhook answered and the
mark goes out beside the ack instead of before it. While a mark is still on its way (retried
through a NATS outage for up to the claim's lease), a redelivery of that event to this replica
is recognised here and not sent again.
"""

from __future__ import annotations

import asyncio
import logging

from shared_contracts.cloudevents import InvalidEvent
from shared_runtime.delivery import Delivery, Reject, Retry
from svc_broadcaster import webhook
from svc_broadcaster.events import Announcement, announcement_for
from svc_broadcaster.ledger import (
    AlreadySent,
    Claim,
    Claimed,
    DeliveryLedger,
    HeldElsewhere,
    KeptClaim,
)
from svc_broadcaster.ordering import InOrder

log = logging.getLogger(__name__)


class Broadcast:
    """The handler the delivery path runs for every todo event."""

    def __init__(
        self,
        ledger: DeliveryLedger,
        destination: webhook.Webhook,
        order: InOrder,
        *,
        due_back_seconds: float,
    ) -> None:
        self._ledger = ledger
        self._webhook = destination
        self._order = order
        self._due_back_seconds = due_back_seconds
        """After a failed call, the longest a redelivery can take (the back-off's longest pause
        and the ack wait): the todo's next event waits that long for it."""
        self._marking: dict[str, asyncio.Task[bool]] = {}

    async def finish(self) -> None:
        """At shutdown: let the "sent" marks on their way reach the ledger."""
        await asyncio.gather(*self._marking.values())

    async def __call__(self, delivery: Delivery) -> str:
        event_id = delivery.event.id
        if event_id in self._marking:
            return "duplicate"  # sent by this replica a moment ago; its mark is on its way
        with self._order.handling(event_id):
            try:
                announcement = announcement_for(delivery.event)
            except InvalidEvent:
                await self._ledger.give_up(event_id)  # the todo's next event need not wait
                self._order.settled(event_id)
                raise
            verdict = await self._ledger.claim(event_id)
            if isinstance(verdict, AlreadySent):
                log.info("duplicate event skipped", extra={"event_id": event_id})
                self._order.settled(event_id)
                return "duplicate"
            if isinstance(verdict, HeldElsewhere):
                raise Retry(
                    f"claimed by {verdict.holder}",
                    after_seconds=verdict.retry_in_seconds,
                    outcome="deferred",
                )
            assert isinstance(verdict, Claimed)
            claim = await self._wait_for_turn(delivery, verdict.claim)
            return await self._send(delivery, announcement, claim)

    async def _wait_for_turn(self, delivery: Delivery, claim: Claim) -> Claim:
        """Until the todo's previous event is settled (`ordering`) and the destination's rate
        limit lets the call go, with the claim kept live; handed back if the replica stops."""
        async with KeptClaim(self._ledger, claim) as kept:
            try:
                predecessor = delivery.event.predecessor_id
                if predecessor is not None:
                    async with delivery.set_aside():
                        await self._order.after(predecessor, delivery.event.time)
                await self._webhook.wait_for_turn()
            except asyncio.CancelledError:
                await self._ledger.retry_later(kept.claim, due_within=self._ledger.lease_seconds)
                raise
        return kept.claim

    async def _send(self, delivery: Delivery, announcement: Announcement, claim: Claim) -> str:
        event_id = delivery.event.id
        outcome = await self._webhook.send(event_id, announcement.text)
        if isinstance(outcome, webhook.Sent):
            mark = asyncio.create_task(
                self._ledger.mark_sent(claim, give_up_after=self._ledger.lease_seconds)
            )
            self._marking[event_id] = mark
            mark.add_done_callback(lambda _: self._marking.pop(event_id, None))
            self._order.settled(event_id)
            log.info("event broadcast", extra={"event_id": event_id, "subject": delivery.subject})
            return "sent"
        if isinstance(outcome, webhook.Retry) and not delivery.final:
            await self._ledger.retry_later(claim, due_within=self._due_back_seconds)
            raise Retry(outcome.reason, after_seconds=outcome.after_seconds)
        await self._ledger.give_up(event_id, claim)  # dead-lettered now
        self._order.settled(event_id)
        if isinstance(outcome, webhook.Retry):
            raise Retry(outcome.reason, after_seconds=outcome.after_seconds)
        raise Reject(outcome.reason)
