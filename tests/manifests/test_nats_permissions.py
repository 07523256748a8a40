"""The real nats-server with nats/single.conf (the users and permissions of every environment):
each service user can do what its service does, and is refused what it has no business doing.

Streams, consumers and the bucket are made from the NACK manifests in nats/jetstream/ by the
`provisioner` user, as the NACK controller does in Kubernetes, so the test also proves that the
names in those manifests are the ones the permissions grant.
"""

from __future__ import annotations

import asyncio
import importlib.util
import re
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import nats
import pytest
from manifest_checks import nats_config
from nats.aio.client import Client
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    StreamConfig,
)

from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import eventually


def _load_provisioning() -> ModuleType:
    """nats/provision.py, the script `docker compose up` runs: the test provisions as it does."""
    spec = importlib.util.spec_from_file_location(
        "provision", nats_config.NATS_DIR / "provision.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


provisioning = _load_provisioning()


@dataclass
class Connection:
    """A user's connection, remembering the permission violations the server reported."""

    client: Client
    violations: list[str] = field(default_factory=list)

    async def refused(self, action: str, subject: str) -> bool:
        """Does the server answer `Permissions Violation for <action> to "<subject>"`?"""
        wanted = f'permissions violation for {action} to "{subject}"'.lower()

        async def reported() -> bool:
            await self.client.flush()
            return any(wanted in v.lower() for v in self.violations)

        return await eventually(reported, timeout=5, message=f"{action} to {subject} refused")


@dataclass
class Cluster:
    server: NatsServer
    passwords: dict[str, str]

    async def connect(self, user: str) -> Connection:
        connection = Connection(client=Client())

        async def on_error(error: Exception) -> None:
            connection.violations.append(str(error))

        connection.client = await nats.connect(
            self.server.url,
            user=user,
            password=self.passwords[user],
            error_cb=on_error,
            allow_reconnect=False,
        )
        return connection


@pytest.fixture(scope="module")
def nats_with_users(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """nats-server started with nats/single.conf and a fresh random password per user."""
    # Prefixed: the config parser reads a value that is all digits or starts with "-" otherwise.
    passwords = {user: f"pw-{secrets.token_hex(12)}" for user in nats_config.password_variables()}
    store = tmp_path_factory.mktemp("nats") / "jetstream"
    with pytest.MonkeyPatch.context() as environment:
        for user, variable in nats_config.password_variables().items():
            environment.setenv(variable, passwords[user])
        server = NatsServer(store, config_file=nats_config.NATS_DIR / "single.conf")
        server.start()
    try:
        yield Cluster(server, passwords)
    finally:
        server.stop(kill=True)


@pytest.fixture(scope="module")
async def cluster(nats_with_users: Cluster) -> Cluster:
    provisioner = await nats_with_users.connect("provisioner")
    await provisioning.provision(
        provisioner.client.jetstream(),
        provisioning.load_manifests(nats_config.NATS_DIR / "jetstream"),
    )
    await provisioner.client.close()
    return nats_with_users


async def pull_one(connection: Connection, subject: str, durable: str, stream: str) -> bytes:
    """Bind to the durable the way the services do, take one message and acknowledge it."""
    js = connection.client.jetstream()
    subscription = await js.pull_subscribe(subject, durable=durable, stream=stream)
    [message] = await subscription.fetch(1, timeout=5)
    await message.ack_sync()
    return message.data


async def test_todo_publishes_events_and_consumes_commands(cluster: Cluster) -> None:
    todo, operator = await cluster.connect("todo"), await cluster.connect("operator")
    js = todo.client.jetstream()
    live = await js.subscribe(
        "todos.events.>", stream="TODOS", ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )

    ack = await js.publish("todos.events.created", b'{"id": "1"}')
    assert ack.stream == "TODOS"
    update = await live.next_msg(timeout=5)
    assert update.data == b'{"id": "1"}'

    await operator.client.jetstream().publish("todos.commands.create", b'{"text": "read"}')
    assert await pull_one(todo, "todos.commands.create", "todo-commands", "TODO_COMMANDS") == (
        b'{"text": "read"}'
    )
    assert (await js.publish("dlq.todo-commands", b"gave up")).stream == "DLQ"

    await todo.client.publish("todos.commands.create", b"{}")
    assert await todo.refused("publish", "todos.commands.create")
    await todo.client.publish("$JS.API.CONSUMER.MSG.NEXT.TODOS.broadcaster", b"1")
    assert await todo.refused("publish", "$JS.API.CONSUMER.MSG.NEXT.TODOS.broadcaster")
    await todo.client.subscribe("dlq.>")
    assert await todo.refused("subscription", "dlq.>")
    await todo.client.close()
    await operator.client.close()


async def test_broadcaster_pulls_events_and_keeps_its_ledger(cluster: Cluster) -> None:
    broadcaster, todo = await cluster.connect("broadcaster"), await cluster.connect("todo")
    await todo.client.jetstream().publish("todos.events.deleted", b'{"id": "2"}')

    pulled: set[bytes] = set()

    async def got_deletion() -> bool:
        pulled.add(await pull_one(broadcaster, "todos.events.>", "broadcaster", "TODOS"))
        return b'{"id": "2"}' in pulled

    await eventually(got_deletion, timeout=15)

    js = broadcaster.client.jetstream()
    ledger = await js.key_value("broadcaster_deliveries")
    await ledger.create("event-2", b"claimed")
    assert (await ledger.get("event-2")).value == b"claimed"
    await ledger.put("event-2", b"sent")
    assert (await js.publish("dlq.broadcaster", b"gave up")).stream == "DLQ"

    await broadcaster.client.publish("todos.events.created", b"{}")
    assert await broadcaster.refused("publish", "todos.events.created")
    await broadcaster.client.publish("$JS.API.STREAM.DELETE.TODOS", b"")
    assert await broadcaster.refused("publish", "$JS.API.STREAM.DELETE.TODOS")
    await broadcaster.client.subscribe("todos.events.>")
    assert await broadcaster.refused("subscription", "todos.events.>")
    await broadcaster.client.close()
    await todo.client.close()


async def test_wikipedia_consumes_requests_and_asks_for_todos(cluster: Cluster) -> None:
    wikipedia, operator = await cluster.connect("wikipedia"), await cluster.connect("operator")
    await operator.client.jetstream().publish("wikipedia.requests", b"{}")
    assert await pull_one(wikipedia, "wikipedia.requests", "wikipedia", "WIKIPEDIA") == b"{}"
    js = wikipedia.client.jetstream()
    assert (await js.publish("todos.commands.create", b'{"text": "Read"}')).stream == (
        "TODO_COMMANDS"
    )
    assert (await js.publish("dlq.wikipedia", b"gave up")).stream == "DLQ"

    await wikipedia.client.publish("todos.events.created", b"{}")
    assert await wikipedia.refused("publish", "todos.events.created")
    await wikipedia.client.subscribe("todos.commands.>")
    assert await wikipedia.refused("subscription", "todos.commands.>")
    await wikipedia.client.close()
    await operator.client.close()


async def test_knative_owns_only_its_channel_streams(cluster: Cluster) -> None:
    knative = await cluster.connect("knative")
    js = knative.client.jetstream()
    channel_subject = "todo-staging.wikipedia-dead-letters._knative"
    await js.add_stream(StreamConfig(name="WIKIPEDIA_DEAD_LETTERS", subjects=[channel_subject]))
    assert (await js.publish(channel_subject, b"undeliverable")).stream == "WIKIPEDIA_DEAD_LETTERS"
    await js.add_consumer(
        "WIKIPEDIA_DEAD_LETTERS",
        ConsumerConfig(name="KN_SUB_1", durable_name="KN_SUB_1", ack_policy=AckPolicy.EXPLICIT),
    )
    [message] = await (
        await js.pull_subscribe_bind("KN_SUB_1", stream="WIKIPEDIA_DEAD_LETTERS")
    ).fetch(1, timeout=5)
    await message.ack_sync()

    await knative.client.publish("$JS.API.STREAM.DELETE.TODOS", b"")
    assert await knative.refused("publish", "$JS.API.STREAM.DELETE.TODOS")
    await knative.client.subscribe("todos.events.>")
    assert await knative.refused("subscription", "todos.events.>")
    await knative.client.close()


async def test_operator_and_provisioner_stay_in_their_lanes(cluster: Cluster) -> None:
    operator, provisioner = await cluster.connect("operator"), await cluster.connect("provisioner")
    await operator.client.jetstream().publish("todos.commands.create", b'{"text": "x"}')
    assert (await operator.client.jetstream().stream_info("DLQ")).config.name == "DLQ"
    await operator.client.publish("todos.events.created", b"{}")
    assert await operator.refused("publish", "todos.events.created")

    assert (await provisioner.client.jetstream().stream_info("TODOS")).config.name == "TODOS"
    await provisioner.client.publish("todos.events.created", b"{}")
    assert await provisioner.refused("publish", "todos.events.created")
    await provisioner.client.subscribe("todos.events.>")
    assert await provisioner.refused("subscription", "todos.events.>")
    await operator.client.close()
    await provisioner.client.close()


async def test_a_wrong_password_is_turned_away(cluster: Cluster) -> None:
    with pytest.raises(nats.errors.Error):
        await asyncio.wait_for(
            nats.connect(
                cluster.server.url,
                user="todo",
                password="not-the-password",
                allow_reconnect=False,
                max_reconnect_attempts=0,
            ),
            timeout=10,
        )


def test_no_password_is_in_git() -> None:
    text = (nats_config.NATS_DIR / "accounts.conf").read_text()
    assert re.findall(r"password:\s*(\S+)", text) == [
        f"${v}" for v in nats_config.password_variables().values()
    ]
    assert not Path(nats_config.NATS_DIR / ".data").exists()
