"""svc-todo's NATS side, connected in the background so the API accepts writes while NATS is
away: the outbox relay's publisher, the command consumer, live updates, and the AsyncAPI document
of all of it (generated from the contracts, like every other service's)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nats.aio.client import Client
from nats.errors import ConnectionClosedError

from shared_contracts.asyncapi import document
from shared_contracts.catalog import (
    CREATE_TODO,
    DLQ,
    TODO_COMMANDS,
    TODO_COMMANDS_CONSUMER,
    TODO_EVENTS,
    TODOS,
)
from shared_contracts.cloudevents import CloudEvent
from shared_runtime.delivery import ConsumerOptions, DurableConsumer, Handler
from shared_runtime.messaging import NatsLink, Published, declare_streams, publish_events
from svc_todo.live import LiveUpdates
from svc_todo.metrics import COMMANDS_PROCESSED
from svc_todo.settings import SERVICE, TodoSettings

COMMAND_STOP_GRACE_SECONDS = 5.0


class TodoMessaging:
    def __init__(self, settings: TodoSettings, live: LiveUpdates) -> None:
        self._settings = settings
        self._live = live
        self._commands: DurableConsumer | None = None
        self.link = NatsLink(settings, SERVICE, self._setup, probe_stream=TODOS.name)
        self._handle_command: Handler | None = None
        self._on_ready: Callable[[], None] = lambda: None

    def start(self, *, commands: Handler, on_ready: Callable[[], None]) -> None:
        """Connect in the background; then consume commands with `commands` and call
        `on_ready` (the relay publishes what piled up meanwhile)."""
        self._handle_command = commands
        self._on_ready = on_ready
        self.link.start()

    async def publish(self, events: Sequence[tuple[str, CloudEvent]]) -> list[Published]:
        """The relay's publisher: every event of a round in flight at once."""
        nc = self.link.client
        if nc is None:
            raise ConnectionClosedError  # not connected yet: the relay retries later
        return await publish_events(nc, events)

    async def stop(self) -> None:
        """Stop consuming; the connection stays open for the relay's last flush."""
        if self._commands is not None:
            await self._commands.stop(COMMAND_STOP_GRACE_SECONDS)

    async def close(self) -> None:
        await self.link.close()

    async def _setup(self, nc: Client) -> None:
        """Idempotent, since a failure part way is retried from the top."""
        js = nc.jetstream()
        if self._settings.declare_streams:
            await declare_streams(js, (TODOS, TODO_COMMANDS, DLQ))
        await self._live.attach(js)
        if self._commands is None and self._handle_command is not None:
            commands = DurableConsumer(
                nc,
                TODO_COMMANDS_CONSUMER,
                self._handle_command,
                ConsumerOptions(
                    concurrency=8,
                    max_deliver=self._settings.command_max_deliver,
                    declare=self._settings.declare_streams,
                ),
                count=lambda outcome: COMMANDS_PROCESSED.labels(outcome=outcome).inc(),
            )
            await commands.start()
            self._commands = commands
        self._on_ready()


def asyncapi(settings: TodoSettings) -> dict[str, Any]:
    return document(
        SERVICE,
        "0.1.0",
        sends=TODO_EVENTS,
        receives=(CREATE_TODO,),
        nats_url=settings.nats_url,
        description="Todo events from the transactional outbox, and the create-todo command.",
    )
