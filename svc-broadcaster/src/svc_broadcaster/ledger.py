"""The shared record of deliveries: one JetStream key-value entry per event id.

A replica claims an event with `create` (atomic: fails if the key exists) before calling the
webhook, and marks it sent afterwards. A claim carries a lease deadline; once it has passed, a
replica that is handed the event again takes the claim over with `update` on the revision it
read, so of two replicas racing for a dead holder's claim exactly one wins. A released (deleted)
key can be claimed again. What stays open is the instant between the webhook's answer and the
"sent" mark: a replica killed exactly there leaves a claim that is taken over and sent again,
which is why every call also carries `Idempotency-Key: <event id>` for receivers that
de-duplicate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass

import msgspec
import stamina
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import KeyValueConfig, StorageType
from nats.js.errors import BucketNotFoundError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

CLAIMED = "claimed"
SENT = "sent"
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
        self._lease_seconds = lease_seconds

    async def claim(self, event_id: str) -> Verdict:
        """Retried through a NATS outage (the bucket electing a leader, this replica's server
        going away) for up to a lease: an outage of the ledger is no fault of the message, and
        a redelivery would spend one of its deliveries (enough of them dead-letter a good
        event). Raises the last error if the ledger stays away longer."""
        async for attempt in stamina.retry_context(
            on=(TimeoutError, NatsError),
            attempts=None,
            timeout=self._lease_seconds,
            wait_max=1.0,
        ):
            with attempt:
                return await self._claim(event_id)
        raise AssertionError("unreachable: stamina raises when it gives up")

    async def _claim(self, event_id: str) -> Verdict:
        key = key_for(event_id)
        for _ in range(_CLAIM_ATTEMPTS):
            mine = Record(CLAIMED, self.holder, time.time() + self._lease_seconds).encode()
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
            if record.holder != self.holder and remaining > 0:
                return HeldElsewhere(record.holder, remaining)
            try:
                revision = await self._kv.update(key, mine, last=entry.revision)
            except KeyWrongLastSequenceError:
                continue  # someone else changed it first: look again
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

    async def release(self, claim: Claim) -> None:
        """Give the claim up after a failed call so the next delivery, anywhere, can claim it."""
        try:
            await self._kv.delete(claim.key, last=claim.revision)
        except (TimeoutError, NatsError) as exc:
            log.warning(
                "could not release a delivery claim; it expires with its lease",
                extra={"key": claim.key, "error": repr(exc)},
            )

    async def is_sent(self, event_id: str) -> bool:
        try:
            entry = await self._kv.get(key_for(event_id))
        except KeyNotFoundError:
            return False
        return Record.decode(entry.value).state == SENT
