"""NATS connections, stream declarations and CloudEvent publishing shared by every service."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import BadRequestError

from shared_contracts.catalog import DLQ_DELIVERIES_HEADER, DLQ_REASON_HEADER, Stream, dlq_subject
from shared_contracts.cloudevents import CloudEvent
from shared_runtime.settings import NatsSettings

log = logging.getLogger(__name__)


def connect_options(settings: NatsSettings, name: str) -> dict[str, Any]:
    """Connection keyword arguments shared by nats-py and FastStream: reconnect forever.
    Credentials are separate (`credentials`), since the two take them differently."""
    return {
        "servers": [settings.nats_url],
        "name": name,
        "max_reconnect_attempts": -1,
        "reconnect_time_wait": 0.5,
        "connect_timeout": 2,
    }


def credentials(settings: NatsSettings) -> dict[str, str]:
    """nats-py's keyword arguments for a creds file, or a user and password."""
    if settings.nats_creds:
        return {"user_credentials": str(settings.nats_creds)}
    if settings.nats_user:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        return {"user": settings.nats_user, "password": password}
    return {}


async def connect(settings: NatsSettings, name: str) -> Client:
    """Connect, retrying in the background if the server is not there yet."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats connection problem", extra={"error": repr(exc)})

    async def on_disconnected() -> None:
        log.warning("nats disconnected")

    async def on_reconnected() -> None:
        log.info("nats reconnected")

    return await nats.connect(
        **connect_options(settings, name),
        **credentials(settings),
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
        allow_reconnect=True,
    )


async def declare_streams(js: JetStreamContext, streams: tuple[Stream, ...]) -> None:
    """Create or update the streams a service relies on (local runs; Kubernetes uses NACK)."""
    for stream in streams:
        config = StreamConfig(
            name=stream.name,
            subjects=list(stream.subjects),
            duplicate_window=stream.duplicate_window.total_seconds(),
        )
        try:
            await js.add_stream(config)
        except BadRequestError:
            await js.update_stream(config)


async def publish_event(
    js: JetStreamContext, subject: str, event: CloudEvent, *, timeout: float = 2.0
) -> bool:
    """Publish in binary mode; True if stored now, False if JetStream dropped it as a duplicate."""
    ack = await js.publish(subject, event.data, headers=event.nats_headers(), timeout=timeout)
    return not ack.duplicate


async def dead_letter(
    js: JetStreamContext,
    consumer: str,
    headers: Mapping[str, str] | None,
    body: bytes,
    *,
    reason: str,
    deliveries: int,
) -> None:
    """Keep the original message and headers, add why and after how many deliveries."""
    kept = {
        k: v for k, v in (headers or {}).items() if k != "Nats-Msg-Id"
    }  # a replay may fail again
    kept[DLQ_REASON_HEADER] = reason[:1000]
    kept[DLQ_DELIVERIES_HEADER] = str(deliveries)
    await js.publish(dlq_subject(consumer), body, headers=kept)
    log.warning(
        "message dead-lettered",
        extra={"consumer": consumer, "reason": reason, "event_id": kept.get("ce-id")},
    )
