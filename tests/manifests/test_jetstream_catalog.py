"""The streams and consumers are described once, in the contracts catalog: local declaration
uses it, and the NACK resources Kubernetes applies must say the same (only replicas differ)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared_contracts.catalog import CONSUMERS, STREAMS, Consumer, Stream

ROOT = Path(__file__).resolve().parents[2]
NACK = ROOT / "nats" / "jetstream"
KNATIVE_OWNED = {"WIKIPEDIA"}
"""In Kubernetes the Knative JetStream channel owns this stream and its consumer."""


def resources(kind: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(NACK.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc and doc["kind"] == kind:
                spec = doc["spec"]
                found[spec.get("name") or spec["durableName"]] = spec
    return found


def duration(seconds: float) -> str:
    """NACK's duration spelling for a whole number of hours, minutes or seconds."""
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


def expected_stream(stream: Stream) -> dict[str, Any]:
    return {
        "name": stream.name,
        "description": stream.description,
        "subjects": list(stream.subjects),
        "storage": stream.storage.value,
        "retention": stream.retention.value,
        "maxAge": duration(stream.max_age.total_seconds()),
        "duplicateWindow": duration(stream.duplicate_window.total_seconds()),
        "discard": "old" if stream.discard_old else "new",
    }


def expected_consumer(consumer: Consumer) -> dict[str, Any]:
    return {
        "streamName": consumer.stream.name,
        "durableName": consumer.durable,
        "description": consumer.description,
        "filterSubject": consumer.filter_subject,
        "deliverPolicy": consumer.deliver_from.value,
        "ackPolicy": "explicit",
        "ackWait": duration(consumer.ack_wait.total_seconds()),
        "maxDeliver": consumer.server_max_deliver,
        "maxAckPending": consumer.max_ack_pending,
    }


@pytest.mark.parametrize("stream", STREAMS, ids=lambda s: s.name)
def test_each_nack_stream_matches_the_catalog(stream: Stream) -> None:
    declared = resources("Stream")
    if stream.name in KNATIVE_OWNED:
        assert stream.name not in declared
        return
    spec = declared[stream.name]
    assert {k: spec.get(k) for k in expected_stream(stream)} == expected_stream(stream)
    assert spec["replicas"] == 3


@pytest.mark.parametrize("consumer", CONSUMERS, ids=lambda c: c.durable)
def test_each_nack_consumer_matches_the_catalog(consumer: Consumer) -> None:
    declared = resources("Consumer")
    if consumer.stream.name in KNATIVE_OWNED:
        assert consumer.durable not in declared
        return
    spec = declared[consumer.durable]
    assert {k: spec.get(k) for k in expected_consumer(consumer)} == expected_consumer(consumer)


def test_nack_declares_nothing_the_catalog_does_not_know() -> None:
    assert set(resources("Stream")) == {s.name for s in STREAMS} - KNATIVE_OWNED
    known = {c.durable for c in CONSUMERS if c.stream.name not in KNATIVE_OWNED}
    assert set(resources("Consumer")) == known
