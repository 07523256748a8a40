"""AsyncAPI 3.0 documents generated from the catalog: the subjects, each message's CloudEvents
headers (NATS binary mode) and the JSON schema of its data, from the same models the code uses."""

from __future__ import annotations

import inspect
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec

from shared_contracts.catalog import Channel
from shared_contracts.cloudevents import JSON, PREDECESSOR_ID, SPEC_VERSION

ASYNCAPI_VERSION = "3.0.0"
_SCHEMAS = "#/components/schemas/"


def cloudevent_headers(channel: Channel) -> dict[str, Any]:
    """The headers every message on `channel` carries (see `CloudEvent.nats_headers`)."""
    headers: dict[str, Any] = {
        "type": "object",
        "required": ["ce-specversion", "ce-id", "ce-type", "ce-source"],
        "properties": {
            "ce-specversion": {"const": SPEC_VERSION},
            "ce-id": {
                "type": "string",
                "description": "Unique per event; consumers de-duplicate on it.",
            },
            "ce-type": {"const": channel.event_type},
            "ce-source": {"type": "string", "description": "Who produced the event."},
            "ce-time": {"type": "string", "format": "date-time"},
            "Content-Type": {"const": JSON},
            "Nats-Msg-Id": {
                "type": "string",
                "description": "Equal to ce-id, so JetStream drops a republished duplicate.",
            },
            "traceparent": {
                "type": "string",
                "pattern": "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$",
                "description": "W3C trace context, when the producer was in a trace.",
            },
        },
    }
    if channel.chained:
        headers["properties"][f"ce-{PREDECESSOR_ID}"] = {
            "type": "string",
            "description": "The ce-id of the previous event about the same entity, on any "
            "subject of this stream; absent on its first event. A consumer that handles events "
            "in parallel keeps each entity's order by acting on an event only once its "
            "predecessor is done.",
        }
    return headers


def payload_schemas(models: Iterable[type[msgspec.Struct]]) -> dict[str, Any]:
    """The JSON schema of each model and of the models it holds, by class name, referring to one
    another under `#/components/schemas/`."""
    _, schemas = msgspec.json.schema_components(models, ref_template=_SCHEMAS + "{name}")
    for schema in schemas.values():
        # A model's description is its docstring, which msgspec only dedents as a whole: its
        # first line, flush with the quotes, leaves the others indented.
        if "description" in schema:
            schema["description"] = inspect.cleandoc(schema["description"])
    return schemas


def document(
    title: str,
    version: str,
    *,
    sends: Sequence[Channel] = (),
    receives: Sequence[Channel] = (),
    nats_url: str | None = None,
    description: str = "",
) -> dict[str, Any]:
    """The messaging side of one service: what it publishes (`sends`) and consumes."""
    messages: dict[str, Any] = {}
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    actions = [("send", c) for c in sends] + [("receive", c) for c in receives]
    for action, channel in actions:
        messages[channel.event_type] = {
            "name": channel.event_type,
            "title": channel.event_type,
            "summary": channel.summary,
            "contentType": JSON,
            "headers": cloudevent_headers(channel),
            "payload": {"$ref": _SCHEMAS + channel.model.__name__},
        }
        channels[channel.subject] = {
            "address": channel.subject,
            "description": f"On stream {channel.stream.name}.",
            "messages": {
                channel.event_type: {"$ref": f"#/components/messages/{channel.event_type}"}
            },
        }
        operations[f"{action}.{channel.subject}"] = {
            "action": action,
            "channel": {"$ref": f"#/channels/{channel.subject}"},
            "messages": [{"$ref": f"#/channels/{channel.subject}/messages/{channel.event_type}"}],
        }
    doc: dict[str, Any] = {
        "asyncapi": ASYNCAPI_VERSION,
        "info": {"title": title, "version": version, "description": description},
        "defaultContentType": JSON,
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": payload_schemas(dict.fromkeys(c.model for _, c in actions)),
        },
    }
    if nats_url:
        address = urlsplit(nats_url)
        doc["servers"] = {
            "nats": {"host": address.netloc.rsplit("@", 1)[-1], "protocol": address.scheme}
        }
    return doc
