"""The shared record of deliveries: one JetStream key-value entry per event id.

A replica claims an event with `create` (atomic: fails if the key exists) before calling the
webhook, and marks it sent afterwards. A claim carries a lease deadline; once it has passed, a
replica that is handed the event again takes the claim over with `update` on the revision it
read, so of two replicas racing for a dead holder's claim exactly one wins. What stays open is
the instant between the webhook's answer and the "sent" mark: a replica killed exactly there
leaves a claim that is taken over and sent again, which is why every call also carries
`Idempotency-Key: <event id>` for receivers that de-duplicate.

The entry also tells the replicas holding the todo's next event how this one is getting on
(`ordering`): claimed (lease running), retrying (a call failed; the event comes back by its
deadline, to whoever claims it first), sent, or given up (dead-lettered; a replay may claim it
again).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from types import TracebackType

import msgspec
import stamina
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

CLAIMED = "claimed"
RETRYING = "retrying"
SENT = "sent"
GIVEN_UP = "given_up"
SETTLED = (SENT, GIVEN_UP)
_VALID_KEY = re.compile(r"^[-/_=a-zA-Z0-9]+(\.[-/_=a-zA-Z0-9]+)*$")
_CLAIM_ATTEMPTS = 3


@dataclass(frozen=True)
class Claim:
    key: str
    revision: int


@dataclass(frozen=True)
class Claimed:
    claim: Claim


@dataclass(frozen=True)
class AlreadySent:
    pass


@dataclass(frozen=True)
class HeldElsewhere:
    holder: str
    retry_in_seconds: float


Verdict = Claimed | AlreadySent | HeldElsewhere


@dataclass(frozen=True)
class Record:
    state: str
    holder: str
    until: float
    """Claimed: when the lease ends; retrying: when the event is due back at the latest."""

    @property
    def settled(self) -> bool:
        return self.state in SETTLED

    def in_progress(self, now: float) -> bool:
        """Someone is on it, or it is due back: its outcome is still to come."""
        return not self.settled and self.until > now

    def encode(self) -> bytes:
        """msgspec, not json: two records are written per event, on the hot path."""
        return msgspec.json.encode(
            {"state": self.state, "holder": self.holder, "until": self.until}
        )

    @classmethod
    def decode(cls, raw: bytes | None) -> Record:
        """An unreadable entry is treated as an expired claim, so it can be taken over."""
        try:
            value = json.loads(raw or b"")
            return cls(str(value["state"]), str(value["holder"]), float(value["until"]))
        except (ValueError, TypeError, KeyError):
            return cls(CLAIMED, "unknown", 0.0)


def key_for(event_id: str) -> str:
    """The event id itself when it is a valid key (UUIDs are), else a digest of it."""
    if _VALID_KEY.match(event_id):
        return event_id
    return "sha256-" + hashlib.sha256(event_id.encode()).hexdigest()


async def open_bucket(
    js: JetStreamContext, bucket: str, ttl_seconds: float, declare: bool
) -> KeyValue:
    try:
        return await js.key_value(bucket)
    except BucketNotFoundError:
        if not declare:
            raise
    config = KeyValueConfig(
        bucket=bucket,
        description="svc-broadcaster: delivery claims and sent marks, by event id",
        history=1,
        ttl=ttl_seconds,
        storage=StorageType.FILE,
    )
    return await js.create_key_value(config)


class DeliveryLedger:
    def __init__(self, kv: KeyValue, holder: str, lease_seconds: float) -> None:
        self._kv = kv
        self.holder = holder
        self.lease_seconds = lease_seconds

    async def claim(self, event_id: str) -> Verdict:
        """Retried through a NATS outage (the bucket electing a leader, this replica's server
        going away) for up to a lease: an outage of the ledger is no fault of the message, and
        a redelivery would spend one of its deliveries (enough of them dead-letter a good
        event). Raises the last error if the ledger stays away longer."""
        async for attempt in stamina.retry_context(
            on=(TimeoutError, NatsError),
            attempts=None,
            timeout=self.lease_seconds,
            wait_max=1.0,
        ):
            with attempt:
                return await self._claim(event_id)
        raise AssertionError("unreachable: stamina raises when it gives up")

    async def _claim(self, event_id: str) -> Verdict:
        key = key_for(event_id)
        for _ in range(_CLAIM_ATTEMPTS):
            mine = Record(CLAIMED, self.holder, time.time() + self.lease_seconds).encode()
            try:
                return Claimed(Claim(key, await self._kv.create(key, mine)))
            except KeyWrongLastSequenceError:
                pass
            try:
                entry = await self._kv.get(key)
            except KeyNotFoundError:
                continue  # released between our two calls: try to create it again
            record = Record.decode(entry.value)
            if record.state == SENT:
                return AlreadySent()
            remaining = record.until - time.time()
            if record.state == CLAIMED and record.holder != self.holder and remaining > 0:
                return HeldElsewhere(record.holder, remaining)
            try:
                revision = await self._kv.update(key, mine, last=entry.revision)
            except KeyWrongLastSequenceError:
                continue  # someone else changed it first: look again
            if record.state == CLAIMED and record.holder != self.holder:
                log.info(
                    "took over an expired delivery claim",
                    extra={"event_id": event_id, "previous_holder": record.holder},
                )
            return Claimed(Claim(key, revision))
        return HeldElsewhere("contended", 1.0)

    async def mark_sent(self, claim: Claim, *, give_up_after: float) -> bool:
        """Record the delivery, retrying through a NATS outage for up to `give_up_after` seconds."""
        try:
            await self._mark(claim)  # the common case, without a retry loop's overhead
            return True
        except (TimeoutError, NatsError):
            pass
        try:
            async for attempt in stamina.retry_context(
                on=(TimeoutError, NatsError), attempts=None, timeout=give_up_after, wait_max=2.0
            ):
                with attempt:
                    await self._mark(claim)
        except (TimeoutError, NatsError) as exc:
            log.error(
                "could not record a delivery; a redelivery may repeat it",
                extra={"key": claim.key, "error": repr(exc)},
            )
            return False
        return True

    async def _mark(self, claim: Claim) -> None:
        sent = Record(SENT, self.holder, 0.0).encode()
        try:
            await self._kv.update(claim.key, sent, last=claim.revision)
        except KeyWrongLastSequenceError:
            log.warning("delivery claim was taken over while sending", extra={"key": claim.key})
            await self._kv.put(claim.key, sent)

    async def extend(self, claim: Claim) -> Claim:
        """A fresh lease on a claim still held; raises if it cannot be written."""
        renewed = Record(CLAIMED, self.holder, time.time() + self.lease_seconds).encode()
        return Claim(claim.key, await self._kv.update(claim.key, renewed, last=claim.revision))

    async def retry_later(self, claim: Claim, *, due_within: float) -> None:
        """After a failed call: anyone may claim the event again, and it is due back (redelivered)
        within `due_within` seconds."""
        await self._settle(claim, Record(RETRYING, self.holder, time.time() + due_within))

    async def give_up(self, event_id: str, claim: Claim | None = None) -> None:
        """The event is dead-lettered: nothing waits for it any more (a replay may claim it)."""
        record = Record(GIVEN_UP, self.holder, 0.0)
        if claim is not None:
            await self._settle(claim, record)
            return
        try:
            await self._kv.create(key_for(event_id), record.encode())
        except (KeyWrongLastSequenceError, TimeoutError, NatsError) as exc:
            log.warning(
                "could not record giving up on an event",
                extra={"event_id": event_id, "error": repr(exc)},
            )

    async def _settle(self, claim: Claim, record: Record) -> None:
        """Replace our claim; if that cannot be written, it ends with its lease instead."""
        try:
            await self._kv.update(claim.key, record.encode(), last=claim.revision)
        except (TimeoutError, NatsError) as exc:
            log.warning(
                "could not update a delivery claim; it expires with its lease",
                extra={"key": claim.key, "state": record.state, "error": repr(exc)},
            )

    async def record(self, event_id: str) -> Record | None:
        """The event's entry as it stands, None if it has none (raises if NATS is away)."""
        try:
            entry = await self._kv.get(key_for(event_id))
        except KeyNotFoundError:
            return None
        return Record.decode(entry.value)

    async def is_sent(self, event_id: str) -> bool:
        record = await self.record(event_id)
        return record is not None and record.state == SENT


class KeptClaim:
    """A claim whose lease is renewed every third of it while its holder waits (for the todo's
    previous event, for the destination's rate limit), so a long wait does not let it lapse
    and the event after it sees it still in progress. Short waits cost no write."""

    def __init__(self, ledger: DeliveryLedger, claim: Claim) -> None:
        self.claim = claim
        self._ledger = ledger
        self._every = ledger.lease_seconds / 3
        self._timer: asyncio.TimerHandle | None = None
        self._renewing: asyncio.Task[None] | None = None
        self._done = False

    async def __aenter__(self) -> KeptClaim:
        self._schedule()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
        if self._renewing is not None:
            await asyncio.shield(self._renewing)  # its revision is the one to update next

    def _schedule(self) -> None:
        if not self._done:
            self._timer = asyncio.get_running_loop().call_later(self._every, self._renew_now)

    def _renew_now(self) -> None:
        self._renewing = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        try:
            self.claim = await self._ledger.extend(self.claim)
        except KeyWrongLastSequenceError:
            log.warning(
                "delivery claim was taken over while waiting", extra={"key": self.claim.key}
            )
            return
        except (TimeoutError, NatsError) as exc:
            log.warning(
                "could not renew a delivery claim",
                extra={"key": self.claim.key, "error": repr(exc)},
            )
        finally:
            self._renewing = None
        self._schedule()
