"""`svc-broadcaster dlq replay`: send dead letters back to their subject once the cause is fixed.

Safe to run twice, or concurrently: each dead letter is republished with the message id
`<ce-id>:replay:<DLQ sequence>`, so republishing the same dead letter again (a concurrent run,
or a run that died before deleting it) is dropped by the TODOS stream's duplicate window (counted
as `already_replayed`); it is deleted from the DLQ only after the publish is stored; and
a dead letter whose event the ledger already records as sent is deleted without republishing.
The ce-* headers (and so the event id the ledger and the receiver de-duplicate on) are kept.
Only dead letters present when the replay starts are handled, so one that fails again and comes
back to the DLQ waits for the next replay instead of looping.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import APIError, NotFoundError

from shared_contracts.catalog import (
    DLQ,
    DLQ_DELIVERIES_HEADER,
    DLQ_REASON_HEADER,
    DLQ_SUBJECT_HEADER,
    channel_for_type,
)
from shared_contracts.catalog import dlq_subject as dlq_subject_for
from svc_broadcaster.ledger import DeliveryLedger

log = logging.getLogger(__name__)

NO_MESSAGE_FOUND = 10057

_DROPPED_HEADERS = {
    h.lower() for h in (DLQ_REASON_HEADER, DLQ_DELIVERIES_HEADER, DLQ_SUBJECT_HEADER, "Nats-Msg-Id")
}


@dataclass
class ReplayReport:
    replayed: int = 0
    already_replayed: int = 0
    already_delivered: int = 0
    unroutable: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


async def replay_dead_letters(
    js: JetStreamContext, ledger: DeliveryLedger, consumer: str
) -> ReplayReport:
    report = ReplayReport()
    subject = dlq_subject_for(consumer)
    last = (await js.stream_info(DLQ.name)).state.last_seq
    cursor = 1
    while cursor <= last:
        try:
            letter = await js.get_msg(DLQ.name, seq=cursor, subject=subject, next=True)
        except NotFoundError:
            break
        assert letter.seq is not None
        if letter.seq > last:
            break
        await _replay_one(js, ledger, letter, report)
        cursor = letter.seq + 1
    log.info("dead letters replayed", extra=report.as_dict())
    return report


async def _replay_one(
    js: JetStreamContext, ledger: DeliveryLedger, letter: RawStreamMsg, report: ReplayReport
) -> None:
    assert letter.seq is not None
    original = dict(letter.headers or {})
    lowered = {k.lower(): v for k, v in original.items()}
    event_id = lowered.get("ce-id")
    destination = lowered.get(DLQ_SUBJECT_HEADER) or _subject_of_type(lowered.get("ce-type"))
    if destination is None:
        report.unroutable += 1
        log.warning("dead letter has no known subject; left in the DLQ", extra={"seq": letter.seq})
        return
    if event_id and await ledger.is_sent(event_id):
        report.already_delivered += 1
    else:
        headers = {k: v for k, v in original.items() if k.lower() not in _DROPPED_HEADERS}
        headers["Nats-Msg-Id"] = f"{event_id or ''}:replay:{letter.seq}"
        ack = await js.publish(destination, letter.data or b"", headers=headers)
        if ack.duplicate:
            report.already_replayed += 1
        else:
            report.replayed += 1
    try:
        await js.delete_msg(DLQ.name, letter.seq)
    except APIError as exc:
        if exc.err_code != NO_MESSAGE_FOUND:
            raise  # anything but "a concurrent replay removed it first"


def _subject_of_type(event_type: str | None) -> str | None:
    channel = channel_for_type(event_type or "")
    return channel.subject if channel else None
