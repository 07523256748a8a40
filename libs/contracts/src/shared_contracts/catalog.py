"""Every stream, durable consumer, subject and event type of the system, described once.

Local runs declare streams and consumers from these descriptions; in Kubernetes the NACK
resources under `nats/jetstream/` declare them, and a test fails when the two disagree. Only the
replica count is the deployment's own choice (1 locally, 3 in the cluster).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

import msgspec

from shared_contracts.todos import CreateTodo, Todo, TodoDeleted, TodoUpdated
from shared_contracts.wikipedia import WikipediaRequested


class Retention(StrEnum):
    LIMITS = "limits"
    WORK_QUEUE = "workqueue"
    INTEREST = "interest"


class Storage(StrEnum):
    FILE = "file"
    MEMORY = "memory"


class DeliverFrom(StrEnum):
    """Where a new durable consumer starts reading."""

    ALL = "all"
    NEW = "new"


@dataclass(frozen=True)
class Stream:
    name: str
    subjects: tuple[str, ...]
    description: str
    max_age: timedelta
    retention: Retention = Retention.LIMITS
    storage: Storage = Storage.FILE
    duplicate_window: timedelta = timedelta(hours=1)
    discard_old: bool = True


@dataclass(frozen=True)
class Consumer:
    """A durable pull consumer shared by every replica of one service."""

    durable: str
    stream: Stream
    filter_subject: str
    description: str
    ack_wait: timedelta
    max_deliver: int
    """Deliveries the service makes before it dead-letters; the server allows a few more, so a
    failed dead-letter publish is retried rather than lost (`server_max_deliver`)."""
    max_ack_pending: int
    deliver_from: DeliverFrom = DeliverFrom.ALL

    DEAD_LETTER_HEADROOM = 3

    @property
    def server_max_deliver(self) -> int:
        return self.max_deliver + self.DEAD_LETTER_HEADROOM


@dataclass(frozen=True)
class Channel:
    """A subject, the CloudEvent type published on it and the model of its data."""

    subject: str
    event_type: str
    model: type[msgspec.Struct]
    stream: Stream
    summary: str
    chained: bool = False
    """Each event names the previous event about the same entity (`ce-predecessorid`); a
    channel of first events (a creation) has none to name."""


TODOS = Stream(
    "TODOS",
    ("todos.events.>",),
    "Todo events from svc-todo's outbox",
    max_age=timedelta(days=30),
)
TODO_COMMANDS = Stream(
    "TODO_COMMANDS",
    ("todos.commands.>",),
    "Requests to create a todo, from svc-wikipedia or any NATS publisher",
    # Limits, not a work queue: an operator, an audit or a test can read commands beside
    # svc-todo's consumer; a command nobody took within a week is stale.
    max_age=timedelta(days=7),
)
WIKIPEDIA = Stream(
    "WIKIPEDIA",
    ("wikipedia.>",),
    "Requests for a reading suggestion (hourly schedule or any publisher)",
    max_age=timedelta(days=1),
)
DLQ = Stream(
    "DLQ",
    ("dlq.>",),
    "Messages a consumer gave up on, with dlq-reason and dlq-deliveries headers",
    max_age=timedelta(days=30),
    duplicate_window=timedelta(minutes=2),
)
STREAMS = (TODOS, TODO_COMMANDS, WIKIPEDIA, DLQ)

TODO_CREATED = Channel(
    "todos.events.created", "todo.created.v1", Todo, TODOS, "A todo was created."
)
TODO_UPDATED = Channel(
    "todos.events.updated",
    "todo.updated.v1",
    TodoUpdated,
    TODOS,
    "A todo's text or done state changed; `previous` holds what the change replaced.",
    chained=True,
)
TODO_DELETED = Channel(
    "todos.events.deleted",
    "todo.deleted.v1",
    TodoDeleted,
    TODOS,
    "A todo was deleted.",
    chained=True,
)
TODO_EVENTS = (TODO_CREATED, TODO_UPDATED, TODO_DELETED)
CREATE_TODO = Channel(
    "todos.commands.create",
    "todo.create.v1",
    CreateTodo,
    TODO_COMMANDS,
    "Asks svc-todo to create a todo; the CloudEvent id is the idempotency key.",
)
WIKIPEDIA_REQUESTED = Channel(
    "wikipedia.requests",
    "wikipedia.requested.v1",
    WikipediaRequested,
    WIKIPEDIA,
    "Asks svc-wikipedia to suggest a random article to read.",
)
CHANNELS = (*TODO_EVENTS, CREATE_TODO, WIKIPEDIA_REQUESTED)

BROADCASTER = Consumer(
    "broadcaster",
    TODOS,
    "todos.events.>",
    "svc-broadcaster, one chat message per todo event across all replicas",
    ack_wait=timedelta(seconds=30),
    max_deliver=10,
    max_ack_pending=1000,
    # A new chat destination starts with what happens from now on, not with the stream's history.
    deliver_from=DeliverFrom.NEW,
)
TODO_COMMANDS_CONSUMER = Consumer(
    "todo-commands",
    TODO_COMMANDS,
    CREATE_TODO.subject,
    "svc-todo, creates a todo per command (ce-id is the idempotency key)",
    ack_wait=timedelta(seconds=30),
    max_deliver=5,
    max_ack_pending=100,
)
WIKIPEDIA_CONSUMER = Consumer(
    "wikipedia",
    WIKIPEDIA,
    WIKIPEDIA_REQUESTED.subject,
    "svc-wikipedia, one suggestion per request",
    ack_wait=timedelta(seconds=60),
    max_deliver=20,
    max_ack_pending=100,
)
CONSUMERS = (BROADCASTER, TODO_COMMANDS_CONSUMER, WIKIPEDIA_CONSUMER)

DLQ_REASON_HEADER = "dlq-reason"
DLQ_DELIVERIES_HEADER = "dlq-deliveries"
DLQ_SUBJECT_HEADER = "dlq-subject"
"""Where the message was first published, so a replay knows where to send it back."""


def dlq_subject(consumer: str) -> str:
    """Where a consumer that gives up on a message puts it, for operators to inspect or replay."""
    return f"dlq.{consumer}"


def channel_for_type(event_type: str) -> Channel | None:
    return next((c for c in CHANNELS if c.event_type == event_type), None)
