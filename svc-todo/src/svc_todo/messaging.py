"""svc-todo's NATS side: the FastStream broker (consumers, documented publishers), connected in
the background so the API works while NATS is away."""

from __future__ import annotations

import asyncio
import logging

from faststream.nats import JStream, NatsBroker
from faststream.nats.opentelemetry import NatsTelemetryMiddleware
from faststream.nats.security import NatsCredentials, NatsSecurity, NatsUserPassword
from nats.errors import Error as NatsError
from nats.js import JetStreamContext

from shared_contracts.catalog import DLQ, TODO_COMMANDS, TODO_EVENTS, TODOS
from shared_runtime.messaging import connect_options, credentials, declare_streams
from svc_todo.outbox import OutboxRelay
from svc_todo.settings import SERVICE, TodoSettings

log = logging.getLogger(__name__)


def broker_security(settings: TodoSettings) -> NatsSecurity | None:
    """The service's NATS credentials (as every service reads them) in FastStream's terms."""
    given = credentials(settings)
    if "user_credentials" in given:
        return NatsCredentials.from_file(given["user_credentials"])
    if "user" in given:
        return NatsUserPassword(given["user"], given["password"])
    return None


def create_broker(settings: TodoSettings) -> NatsBroker:
    broker = NatsBroker(
        **connect_options(settings, SERVICE),
        security=broker_security(settings),
        middlewares=[NatsTelemetryMiddleware()],
        logger=logging.getLogger("svc_todo.messaging"),
    )
    for channel in TODO_EVENTS:
        broker.publisher(
            channel.subject,
            stream=JStream(channel.stream.name, declare=False),
            schema=channel.model,
            title=channel.event_type,
            description=f"CloudEvent `{channel.event_type}`, published from the outbox.",
        )
    return broker


async def start_messaging(broker: NatsBroker, settings: TodoSettings, relay: OutboxRelay) -> None:
    """Connect in the background, retrying: the API accepts writes while NATS is away."""
    attempt = 0
    while True:
        try:
            await broker.connect()
            if settings.declare_streams:
                await declare_streams(jetstream(broker), (TODOS, TODO_COMMANDS, DLQ))
            await broker.start()
        except Exception as exc:  # noqa: BLE001 - keep trying; readiness does not depend on NATS
            attempt += 1
            log.warning("NATS not available yet", extra={"error": repr(exc), "attempt": attempt})
            await asyncio.sleep(min(5.0, 0.2 * 2**attempt))
            continue
        log.info("NATS connected, consumers running")
        relay.wake()
        return


async def stop_messaging(broker: NatsBroker) -> None:
    try:
        await broker.stop()
    except NatsError as exc:  # reconnecting or closed: nothing left to drain
        log.warning("NATS connection closed uncleanly", extra={"error": repr(exc)})


def jetstream(broker: NatsBroker) -> JetStreamContext:
    return broker.config.connection_state.stream  # type: ignore[no-any-return]
