"""CloudEvents 1.0 envelopes in NATS binary mode and in both HTTP modes.

In binary mode the attributes travel as `ce-*` headers and the body is the event data as JSON;
`Nats-Msg-Id` repeats the id so JetStream drops a republished duplicate. Extension attributes
travel as `ce-<name>` too.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

SPEC_VERSION = "1.0"
JSON = "application/json"
STRUCTURED = "application/cloudevents+json"
TRACEPARENT = "traceparent"
REQUIRED_ATTRIBUTES = ("id", "source", "type", "specversion")
PREDECESSOR_ID = "predecessorid"
"""Extension: the id of the previous event about the same entity, so that a consumer handling
events in parallel can still act on each entity's events in order. Absent on an entity's first
event."""


class InvalidEvent(ValueError):
    """The message is not a CloudEvent we can read; retrying will not change that."""


@dataclass(frozen=True)
class CloudEvent:
    id: str
    type: str
    source: str
    data: bytes = b"{}"
    time: datetime = field(default_factory=lambda: datetime.now(UTC))
    traceparent: str | None = None
    extensions: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def new(
        cls,
        event_type: str,
        source: str,
        data: msgspec.Struct,
        *,
        event_id: str | None = None,
        traceparent: str | None = None,
    ) -> CloudEvent:
        return cls(
            id=event_id or str(uuid.uuid4()),
            type=event_type,
            source=source,
            data=msgspec.json.encode(data),
            traceparent=traceparent,
        )

    @property
    def predecessor_id(self) -> str | None:
        return self.extensions.get(PREDECESSOR_ID) or None

    def json_data(self) -> Any:
        try:
            return json.loads(self.data or b"null")
        except ValueError as exc:
            raise InvalidEvent(f"data is not JSON: {exc}") from exc
        except RecursionError as exc:
            raise InvalidEvent("data is JSON nested too deeply") from exc

    def nats_headers(self) -> dict[str, str]:
        headers = {
            "ce-specversion": SPEC_VERSION,
            "ce-id": self.id,
            "ce-type": self.type,
            "ce-source": self.source,
            "ce-time": self.time.isoformat(),
            "Content-Type": JSON,
            "Nats-Msg-Id": self.id,
        }
        if self.traceparent:
            headers[TRACEPARENT] = self.traceparent
        headers.update({f"ce-{name}": value for name, value in self.extensions.items()})
        return headers

    @classmethod
    def from_nats(cls, headers: Mapping[str, str] | None, body: bytes) -> CloudEvent:
        return cls._from_binary({k.lower(): v for k, v in (headers or {}).items()}, body)

    @classmethod
    def from_http(cls, headers: Mapping[str, str], body: bytes) -> CloudEvent:
        """Read binary mode (`ce-*` headers) or structured mode (the whole event as JSON)."""
        lowered = {k.lower(): v for k, v in headers.items()}
        if lowered.get("content-type", "").split(";")[0].strip() == STRUCTURED:
            return cls._from_structured(body, lowered.get(TRACEPARENT))
        return cls._from_binary(lowered, body)

    @classmethod
    def _from_binary(cls, headers: Mapping[str, str], body: bytes) -> CloudEvent:
        attributes = {k[3:]: v for k, v in headers.items() if k.startswith("ce-")}
        return cls._build(attributes, body, headers.get(TRACEPARENT))

    @classmethod
    def _from_structured(cls, body: bytes, traceparent: str | None) -> CloudEvent:
        try:
            document = json.loads(body)
        except ValueError as exc:
            raise InvalidEvent(f"structured event is not JSON: {exc}") from exc
        except RecursionError as exc:
            raise InvalidEvent("structured event is JSON nested too deeply") from exc
        if not isinstance(document, dict):
            raise InvalidEvent("structured event must be a JSON object")
        data = document.pop("data", {})
        attributes = {k: str(v) for k, v in document.items()}
        return cls._build(attributes, json.dumps(data).encode(), traceparent)

    @classmethod
    def _build(cls, attributes: dict[str, str], data: bytes, traceparent: str | None) -> CloudEvent:
        missing = [name for name in REQUIRED_ATTRIBUTES if not attributes.get(name)]
        if missing:
            raise InvalidEvent(f"missing CloudEvent attribute(s): {', '.join(missing)}")
        if attributes["specversion"] != SPEC_VERSION:
            raise InvalidEvent(f"unsupported specversion {attributes['specversion']!r}")
        time = _parse_time(attributes.get("time"))
        known = {*REQUIRED_ATTRIBUTES, "time"}
        return cls(
            id=attributes["id"],
            type=attributes["type"],
            source=attributes["source"],
            data=data,
            time=time,
            traceparent=traceparent,
            extensions={k: v for k, v in attributes.items() if k not in known},
        )


def _parse_time(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise InvalidEvent(f"time is not RFC 3339: {value!r}") from exc
