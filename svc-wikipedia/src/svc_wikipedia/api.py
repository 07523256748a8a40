"""The HTTP trigger: `POST /` with a CloudEvent, as Knative's PingSource or any sender posts it."""

from __future__ import annotations

from typing import Any

from litestar import Request, post
from litestar.di import NamedDependency
from litestar.exceptions import ClientException, ServiceUnavailableException

from shared_contracts.catalog import WIKIPEDIA_REQUESTED
from shared_contracts.cloudevents import CloudEvent, InvalidEvent
from svc_wikipedia.metrics import FAILURES
from svc_wikipedia.suggestions import PING_EVENT_TYPE, Suggester, SuggestionFailed, trigger_id

ACCEPTED_TYPES = frozenset({PING_EVENT_TYPE, WIKIPEDIA_REQUESTED.event_type})
RETRY_AFTER_SECONDS = 30


@post("/", status_code=202, summary="Suggest a random article to read (CloudEvent trigger)")
async def receive_cloudevent(
    request: Request[Any, Any, Any], suggester: NamedDependency[Suggester]
) -> dict[str, Any]:
    """202 once the todo command is published; 400 for a bad event; 503 when the caller should
    retry later (Wikipedia or NATS unavailable)."""
    try:
        event = CloudEvent.from_http(dict(request.headers), await request.body())
        trigger = trigger_id(event, ACCEPTED_TYPES)
    except InvalidEvent as bad:
        FAILURES.labels("invalid_event").inc()
        raise ClientException(detail=f"invalid CloudEvent: {bad}") from bad
    try:
        suggestion = await suggester.suggest(trigger)
    except SuggestionFailed as failure:
        raise ServiceUnavailableException(
            detail=str(failure), headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        ) from failure
    return {
        "command_id": suggestion.command_id,
        "url": suggestion.url,
        "duplicate": suggestion.duplicate,
    }
