"""A scriptable fake Wikipedia, settings pointing at it, and a view of what reached JetStream."""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import nats
import pytest
from litestar.testing import AsyncTestClient
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg

from shared_contracts.catalog import TODO_COMMANDS
from shared_testkit.fake_http import FakeHttpServer, Recorded, Reply
from shared_testkit.polling import eventually
from svc_wikipedia.app import create_app
from svc_wikipedia.settings import WikipediaSettings
from svc_wikipedia.wikipedia import RANDOM_ARTICLE_PATH

ARTICLE_HTML = b"<!DOCTYPE html><html><body><h1>%s</h1></body></html>"


class FakeWikipedia:
    """`Special:Random` redirects to /wiki/Article_<n> unless a test makes it misbehave.

    `location` replaces every redirect target, `next_locations` only the next few;
    `delay_seconds` makes every answer slow, mode "hang" never answers in time.
    """

    def __init__(self) -> None:
        self.mode = "redirect"
        self.delay_seconds = 0.0
        self.location: str | None = None
        self.next_locations: list[str] = []
        self.articles_served = 0
        self._released = threading.Event()
        self.server = FakeHttpServer(self._respond)

    @property
    def url(self) -> str:
        return self.server.url

    def random_requests(self) -> list[Recorded]:
        return [r for r in self.server.requests if r.path == RANDOM_ARTICLE_PATH]

    def _respond(self, request: Recorded) -> Reply:
        if self.mode == "hang":
            self._released.wait(timeout=10)
        if self.delay_seconds:
            threading.Event().wait(self.delay_seconds)
        if self.mode == "server_error":
            return Reply(status=503, body=b"upstream overloaded")
        if request.path == RANDOM_ARTICLE_PATH:
            self.articles_served += 1
            location = (
                self.next_locations.pop(0)
                if self.next_locations
                else self.location
                if self.location is not None
                else f"{self.url}/wiki/Article_{self.articles_served}"
            )
            return Reply(status=302, headers={"Location": location})
        if request.path.startswith("/wiki/"):
            return Reply(
                body=ARTICLE_HTML % request.path.encode(),
                headers={"Content-Type": "text/html; charset=UTF-8"},
            )
        return Reply(status=404)

    def release(self) -> None:
        self._released.set()


@pytest.fixture
def wikipedia() -> Iterator[FakeWikipedia]:
    fake = FakeWikipedia()
    with fake.server:
        yield fake
        fake.release()


SettingsFactory = Callable[..., WikipediaSettings]


@pytest.fixture
def make_settings(wikipedia: FakeWikipedia) -> SettingsFactory:
    """Fast-failing settings aimed at the fake; the scheduler is off unless a test turns it on."""

    def make(**overrides: Any) -> WikipediaSettings:
        values: dict[str, Any] = {
            "wikipedia_base_url": wikipedia.url,
            "suggest_every_minutes": 0,
            "wikipedia_timeout_seconds": 0.5,
            "wikipedia_attempts": 2,
            "wikipedia_backoff_seconds": 0.05,
            "redelivery_delay_seconds": 0.2,
            "redelivery_max_delay_seconds": 0.5,
            **overrides,
        }
        return WikipediaSettings(**values)

    return make


@pytest.fixture
def settings(make_settings: SettingsFactory, nats_url: str) -> WikipediaSettings:
    return make_settings(nats_url=nats_url)


@pytest.fixture
async def client(settings: WikipediaSettings) -> AsyncIterator[AsyncTestClient[Any]]:
    """The whole service (HTTP trigger, NATS consumer) running in this event loop, ready."""
    async with AsyncTestClient(create_app(settings)) as client:

        async def ready() -> bool:
            return (await client.get("/readyz")).status_code == 200

        await eventually(ready, timeout=10, message="svc-wikipedia ready")
        yield client


@pytest.fixture
async def nc(nats_url: str) -> AsyncIterator[Client]:
    client = await nats.connect(nats_url)
    yield client
    await client.close()


@pytest.fixture
def js(nc: Client) -> JetStreamContext:
    return nc.jetstream()


@dataclass(frozen=True)
class Command:
    headers: dict[str, str]
    text: str


StoredCommands = Callable[[], Awaitable[list[Command]]]


@pytest.fixture
def stored_commands(js: JetStreamContext) -> StoredCommands:
    """Every todo command the TODO_COMMANDS stream holds, oldest first."""

    async def read() -> list[Command]:
        state = (await js.stream_info(TODO_COMMANDS.name)).state
        if not state.messages:
            return []
        messages: list[RawStreamMsg] = [
            await js.get_msg(TODO_COMMANDS.name, sequence)
            for sequence in range(state.first_seq, state.last_seq + 1)
        ]
        return [
            Command(headers=dict(m.headers or {}), text=json.loads(m.data or b"{}")["text"])
            for m in messages
        ]

    return read
