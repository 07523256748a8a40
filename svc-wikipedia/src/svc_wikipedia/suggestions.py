"""The one handler every trigger shares: a random article becomes a `todo.create.v1` command.

The command's id is derived from the trigger's id, so however often a trigger arrives (HTTP
retries, NATS redeliveries, replicas racing for a schedule slot) svc-todo creates one todo:
JetStream drops a repeated `Nats-Msg-Id` within its window, and svc-todo drops a repeated ce-id.
"""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass

import msgspec
import nats.errors
from nats.js import JetStreamContext

from shared_contracts.catalog import CREATE_TODO, WIKIPEDIA_REQUESTED
from shared_contracts.cloudevents import CloudEvent, InvalidEvent
from shared_contracts.todos import TEXT_MAX_CHARACTERS, CreateTodo
from shared_contracts.wikipedia import WikipediaRequested
from shared_runtime.messaging import publish_event
from shared_runtime.telemetry import current_traceparent
from svc_wikipedia.metrics import FAILURES, RESOLVE_SECONDS, SUGGESTIONS
from svc_wikipedia.wikipedia import WikipediaClient, WikipediaUnavailable

log = logging.getLogger(__name__)

SOURCE = "/svc-wikipedia"
PING_EVENT_TYPE = "dev.knative.sources.ping"
TEXT_PREFIX = "Read "
COMMAND_ID_NAMESPACE = uuid.UUID("5b0c8a52-3f3e-4b8e-9d3c-7a4f2e61c0d9")


class SuggestionFailed(Exception):
    """Nothing was published; the trigger should be retried later."""


class PublishFailed(SuggestionFailed):
    """The command could not be handed to JetStream."""


def command_id(trigger_id: str) -> str:
    """The todo command's ce-id: the same trigger always gives the same command."""
    return str(uuid.uuid5(COMMAND_ID_NAMESPACE, trigger_id))


def trigger_id(event: CloudEvent, accepted_types: frozenset[str]) -> str:
    """Identify an accepted trigger by its CloudEvent source and id (unique together, by spec).

    Raises InvalidEvent for a type we do not handle or a `wikipedia.requested.v1` whose data is
    not a request; a PingSource's data is free-form and ignored.
    """
    if event.type not in accepted_types:
        raise InvalidEvent(
            f"unsupported event type {event.type!r}; expected one of {sorted(accepted_types)}"
        )
    if event.type == WIKIPEDIA_REQUESTED.event_type:
        data = event.json_data()
        try:
            msgspec.convert({} if data is None else data, WikipediaRequested)
        except msgspec.ValidationError as exc:
            raise InvalidEvent(f"data is not a {event.type} request: {exc}") from exc
    return f"{event.source}#{event.id}"


@dataclass(frozen=True)
class Suggestion:
    command_id: str
    url: str
    duplicate: bool
    """True when JetStream had already stored this command (a repeated trigger)."""


class Suggester:
    def __init__(self, wikipedia: WikipediaClient, js: JetStreamContext) -> None:
        self._wikipedia = wikipedia
        self._js = js

    async def suggest(self, trigger_id: str) -> Suggestion:
        """Resolve a random article and publish "Read <url>"; SuggestionFailed if either fails."""
        started = time.perf_counter()
        try:
            url = await self._wikipedia.random_article_url(
                max_length=TEXT_MAX_CHARACTERS - len(TEXT_PREFIX)
            )
        except WikipediaUnavailable as failure:
            FAILURES.labels(failure.kind.value).inc()
            raise SuggestionFailed(str(failure)) from failure
        finally:
            RESOLVE_SECONDS.observe(time.perf_counter() - started)

        event = CloudEvent.new(
            CREATE_TODO.event_type,
            SOURCE,
            CreateTodo(text=f"{TEXT_PREFIX}{url}"),
            event_id=command_id(trigger_id),
            traceparent=current_traceparent(),
        )
        try:
            stored = await publish_event(self._js, CREATE_TODO.subject, event)
        except nats.errors.Error as exc:
            FAILURES.labels("publish").inc()
            log.warning("todo command not published", extra={"error": repr(exc)})
            raise PublishFailed("could not publish the todo command") from exc

        suggestion = Suggestion(command_id=event.id, url=url, duplicate=not stored)
        SUGGESTIONS.labels("duplicate" if suggestion.duplicate else "published").inc()
        log.info(
            "reading suggested",
            extra={"trigger_id": trigger_id, "event_id": event.id, "url": url, "stored": stored},
        )
        return suggestion
