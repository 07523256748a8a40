"""The NATS trigger: requests on `wikipedia.requests`, redelivered while Wikipedia is down."""

from __future__ import annotations

from typing import Any

from litestar.testing import AsyncTestClient

from shared_contracts.catalog import WIKIPEDIA_REQUESTED
from shared_contracts.cloudevents import CloudEvent
from shared_contracts.wikipedia import WikipediaRequested
from shared_runtime.messaging import publish_event
from shared_testkit.polling import eventually
from svc_wikipedia.app import create_app
from svc_wikipedia.consumer import DURABLE_NAME
from svc_wikipedia.suggestions import command_id

SOURCE = "/tests/publisher"


def request(event_id: str) -> CloudEvent:
    return CloudEvent.new(
        WIKIPEDIA_REQUESTED.event_type, SOURCE, WikipediaRequested(), event_id=event_id
    )


async def test_a_request_on_nats_publishes_one_read_command(
    client: Any, js: Any, wikipedia: Any, stored_commands: Any
) -> None:
    await publish_event(js, WIKIPEDIA_REQUESTED.subject, request("nats-1"))

    commands = await eventually(stored_commands)
    assert [c.text for c in commands] == [f"Read {wikipedia.url}/wiki/Article_1"]
    assert commands[0].headers["ce-type"] == "todo.create.v1"
    assert commands[0].headers["ce-id"] == command_id(f"{SOURCE}#nats-1")


async def test_a_redelivered_request_does_not_store_a_second_command(
    client: Any, js: Any, stored_commands: Any
) -> None:
    """Published twice without JetStream's own de-duplication, as a redelivery would arrive."""
    event = request("nats-twice")
    headers = {k: v for k, v in event.nats_headers().items() if k != "Nats-Msg-Id"}
    await js.publish(WIKIPEDIA_REQUESTED.subject, event.data, headers=headers)
    await js.publish(WIKIPEDIA_REQUESTED.subject, event.data, headers=headers)

    await eventually(lambda: _both_acknowledged(js))
    assert len(await stored_commands()) == 1


async def test_a_request_made_while_wikipedia_is_down_succeeds_once_it_recovers(
    client: Any, js: Any, wikipedia: Any, stored_commands: Any
) -> None:
    wikipedia.mode = "server_error"
    await publish_event(js, WIKIPEDIA_REQUESTED.subject, request("nats-outage"))

    await eventually(lambda: _redelivered(wikipedia), message="a second delivery")
    assert await stored_commands() == []
    wikipedia.mode = "redirect"

    commands = await eventually(stored_commands)
    assert [c.text for c in commands] == [f"Read {wikipedia.url}/wiki/Article_1"]
    assert commands[0].headers["ce-id"] == command_id(f"{SOURCE}#nats-outage")


async def test_a_bad_payload_goes_to_the_dead_letter_subject(
    client: Any, js: Any, nc: Any, stored_commands: Any
) -> None:
    dead_letters = await nc.subscribe("dlq.wikipedia")
    await js.publish(WIKIPEDIA_REQUESTED.subject, b"not a cloudevent")

    letter = await dead_letters.next_msg(timeout=5)
    assert letter.data == b"not a cloudevent"
    assert "missing CloudEvent attribute" in letter.headers["dlq-reason"]
    assert await stored_commands() == []


async def _both_acknowledged(js: Any) -> bool:
    info = await js.consumer_info("WIKIPEDIA", DURABLE_NAME)
    return bool(info.delivered.stream_seq >= 2 and info.num_ack_pending == 0)


async def _redelivered(wikipedia: Any) -> bool:
    """Two tries per delivery (WIKIPEDIA_ATTEMPTS=2), so four requests mean a redelivery."""
    return len(wikipedia.random_requests()) >= 4


async def test_with_nats_requests_off_no_consumer_is_created(
    make_settings: Any, nats_url: str, js: Any
) -> None:
    """In Knative the channel delivers over HTTP and the service's NATS user may not consume."""
    settings = make_settings(nats_url=nats_url, consume_nats_requests=False)
    async with AsyncTestClient(create_app(settings)) as client:
        await eventually(lambda: _ready(client))
        consumers = await js.consumers_info(WIKIPEDIA_REQUESTED.stream.name)

    assert consumers == []


async def _ready(client: Any) -> bool:
    return bool((await client.get("/readyz")).status_code == 200)
