"""The real nats-server with the users and permissions of every environment, in both topologies:
nats/single.conf (compose, a laptop) and the three routed nodes of nats/cluster.conf (Kubernetes)
on loopback. Each service user can do what its service does, and is refused what it has no
business doing.

Streams, consumers and the bucket are made from the NACK manifests in nats/jetstream/ by the
`provisioner` user, as the NACK controller does in Kubernetes (at the manifests' R3 on the
cluster), so the test also proves that the names in those manifests are the ones the permissions
grant. Last, the cluster loses two of its three nodes: the probes the StatefulSet declares keep
the survivor in the Service while JetStream has no quorum.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import nats
import pytest
from manifest_checks import nats_config, render
from nats.aio.client import Client
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    StreamConfig,
)

from shared_testkit.nats_cluster import NatsCluster, load_provisioning, start_nats
from shared_testkit.nats_server import NatsServer, nats_server_binary
from shared_testkit.polling import eventually, wait_until
from shared_testkit.ports import free_port

TOPOLOGIES = ("single", "cluster")


provisioning = load_provisioning(nats_config.NATS_DIR)


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


async def connect(cluster: NatsCluster, user: str) -> Connection:
    """`user`'s connection, without reconnecting, that remembers what the server refused."""
    connection = Connection(client=Client())

    async def on_error(error: Exception) -> None:
        connection.violations.append(str(error))

    connection.client = await cluster.connect(user, error_cb=on_error, allow_reconnect=False)
    return connection


def _monitor(server: NatsServer, path: str) -> int:
    return httpx.get(f"http://127.0.0.1:{server.monitor_port}{path}", timeout=1).status_code


@pytest.fixture(scope="module", params=TOPOLOGIES)
def nats_with_users(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[NatsCluster]:
    cluster = start_nats(
        nats_config.NATS_DIR, tmp_path_factory.mktemp(f"nats-{request.param}"), request.param
    )
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
async def cluster(nats_with_users: NatsCluster) -> NatsCluster:
    await nats_with_users.provision()
    return nats_with_users


async def pull_one(connection: Connection, subject: str, durable: str, stream: str) -> bytes:
    """Bind to the durable the way the services do, take one message and acknowledge it."""
    js = connection.client.jetstream()
    subscription = await js.pull_subscribe(subject, durable=durable, stream=stream)
    [message] = await subscription.fetch(1, timeout=5)
    await message.ack_sync()
    return message.data


async def test_todo_publishes_events_and_consumes_commands(cluster: NatsCluster) -> None:
    todo, operator = await connect(cluster, "todo"), await connect(cluster, "operator")
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


async def test_broadcaster_pulls_events_and_keeps_its_ledger(cluster: NatsCluster) -> None:
    broadcaster, todo = await connect(cluster, "broadcaster"), await connect(cluster, "todo")
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


async def test_wikipedia_consumes_requests_and_asks_for_todos(cluster: NatsCluster) -> None:
    wikipedia, operator = await connect(cluster, "wikipedia"), await connect(cluster, "operator")
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


async def test_operator_and_provisioner_stay_in_their_lanes(cluster: NatsCluster) -> None:
    operator, provisioner = (
        await connect(cluster, "operator"),
        await connect(cluster, "provisioner"),
    )
    await operator.client.jetstream().publish("todos.commands.create", b'{"text": "x"}')
    assert (await operator.client.jetstream().stream_info("DLQ")).config.name == "DLQ"
    await operator.client.publish("todos.events.created", b"{}")
    assert await operator.refused("publish", "todos.events.created")

    assert (await provisioner.client.jetstream().stream_info("TODOS")).config.name == "TODOS"
    await provisioner.client.publish("todos.events.created", b"{}")
    assert await provisioner.refused("publish", "todos.events.created")
    await provisioner.client.subscribe("todos.events.>")
    assert await provisioner.refused("subscription", "todos.events.>")
    for reads_data in (
        "$JS.API.STREAM.MSG.GET.TODOS",
        "$JS.API.DIRECT.GET.TODOS",
        "$JS.API.CONSUMER.MSG.NEXT.TODOS.broadcaster",
        "$JS.API.STREAM.PURGE.TODOS",
    ):
        await provisioner.client.publish(reads_data, b"{}")
        assert await provisioner.refused("publish", reads_data)
    await operator.client.close()
    await provisioner.client.close()


async def test_a_wrong_password_is_turned_away(cluster: NatsCluster) -> None:
    with pytest.raises(nats.errors.Error):
        await asyncio.wait_for(
            nats.connect(
                cluster.urls[0],
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


async def test_streams_consumers_and_bucket_have_the_declared_replicas(
    cluster: NatsCluster,
) -> None:
    """On the cluster every NACK resource is at its manifest's R3, with both followers current."""
    operator = await connect(cluster, "provisioner")
    js = operator.client.jetstream()
    manifests = provisioning.load_manifests(nats_config.NATS_DIR / "jetstream")
    declared: dict[tuple[str, str | None], int] = {}
    for manifest in manifests:
        spec = manifest["spec"]
        if manifest["kind"] == "Stream":
            declared[(spec["name"], None)] = spec["replicas"]
        elif manifest["kind"] == "Consumer":
            declared[(spec["streamName"], spec["durableName"])] = spec["replicas"]
        elif manifest["kind"] == "KeyValue":
            declared[(f"KV_{spec['bucket']}", None)] = spec["replicas"]
    assert declared, "nats/jetstream declares nothing"

    async def replicated() -> bool:
        for (stream, consumer), replicas in declared.items():
            info = await (
                js.stream_info(stream) if consumer is None else js.consumer_info(stream, consumer)
            )
            wanted = replicas if cluster.topology == "cluster" else 1
            peers = (info.cluster.replicas or []) if info.cluster else []
            if len(peers) + 1 != wanted or not all(p.current for p in peers):
                return False
        return True

    await eventually(replicated, timeout=15, message="every resource replicated as declared")
    await operator.client.close()


def _probe_paths() -> dict[str, str]:
    """The NATS container's probes as the staging overlay renders them."""
    [statefulset] = [
        m
        for m in render.build(render.REPO / "k8s" / "overlays" / "staging")
        if m["kind"] == "StatefulSet" and m["metadata"]["name"] == "nats"
    ]
    [container] = [
        c for c in statefulset["spec"]["template"]["spec"]["containers"] if c["name"] == "nats"
    ]
    return {
        probe: container[probe]["httpGet"]["path"]
        for probe in ("startupProbe", "livenessProbe", "readinessProbe")
    }


async def test_a_node_without_quorum_stays_ready_and_alive(tmp_path: Path) -> None:
    """Two of three nodes gone: JetStream has no quorum, yet the survivor still serves core NATS,
    so readiness must keep it in the Service and liveness must not restart it; the startup probe
    is the one that waits for JetStream to be current."""
    probes = _probe_paths()
    cluster = start_nats(nats_config.NATS_DIR, tmp_path)
    try:
        await cluster.provision()
        survivor, *others = cluster.nodes
        for server in others:
            server.stop(kill=True)
        wait_until(
            lambda: _monitor(survivor, probes["startupProbe"]) != 200,
            timeout=30,
            message="the survivor reports JetStream without quorum on the startup path",
        )
        assert _monitor(survivor, probes["readinessProbe"]) == 200
        assert _monitor(survivor, probes["livenessProbe"]) == 200
    finally:
        cluster.stop()


@dataclass
class LeafNode:
    """nats/knative-leaf.conf on loopback, connected to the cluster as the `knative` user."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"


def start_leaf(cluster: NatsCluster, directory: Path) -> LeafNode:
    port, monitor = free_port(), free_port()
    url = f"nats://knative:{cluster.passwords['knative']}@127.0.0.1:{cluster.leaf_ports[0]}"
    environment = {"PATH": "", "POD_NAME": "nats-knative-0", "NATS_KNATIVE_LEAF_URL": url}
    command = [nats_server_binary(), "-c", str(nats_config.NATS_DIR / "knative-leaf.conf")]
    command += ["-a", "127.0.0.1", "-p", str(port), "-m", str(monitor)]
    with (directory / "leaf.log").open("wb") as log:
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
    hub = cluster.nodes[0]
    wait_until(
        lambda: (
            httpx.get(f"http://127.0.0.1:{hub.monitor_port}/leafz", timeout=1).json()["leafnodes"]
            == 1
        ),
        timeout=15,
        message="the leaf node connected to the cluster",
    )
    return LeafNode(process, port)


async def test_knative_reaches_only_its_channel_streams_through_its_leaf_node(
    tmp_path: Path,
) -> None:
    """eventing-natss connects without credentials to the leaf node, which is the `knative` user
    on the cluster: the channel's streams and consumers work across it, and nothing else does."""
    cluster = start_nats(nats_config.NATS_DIR, tmp_path)
    leaf: LeafNode | None = None
    try:
        await cluster.provision()
        todo = await connect(cluster, "todo")
        await todo.client.jetstream().publish("todos.events.created", b'{"id": "1"}')
        await todo.client.close()
        leaf = start_leaf(cluster, tmp_path)
        channel = await nats.connect(leaf.url, allow_reconnect=False)
        js = channel.jetstream(timeout=2)
        channel_subject = "todo-staging.wikipedia-dead-letters._knative"
        await js.add_stream(
            StreamConfig(name="WIKIPEDIA_DEAD_LETTERS", subjects=[channel_subject], num_replicas=3)
        )

        async def stored() -> bool:
            """The new stream's interest reaches the leaf a moment after it is created."""
            try:
                ack = await js.publish(channel_subject, b"undeliverable", timeout=1)
            except (nats.errors.NoRespondersError, nats.errors.TimeoutError):
                return False
            return ack.stream == "WIKIPEDIA_DEAD_LETTERS"

        assert await eventually(stored, timeout=10, message="the channel stream stores")
        await js.add_consumer(
            "WIKIPEDIA_DEAD_LETTERS",
            ConsumerConfig(name="KN_SUB_1", durable_name="KN_SUB_1", ack_policy=AckPolicy.EXPLICIT),
        )
        [message] = await (
            await js.pull_subscribe_bind("KN_SUB_1", stream="WIKIPEDIA_DEAD_LETTERS")
        ).fetch(1, timeout=5)
        assert message.data == b"undeliverable"
        await message.ack_sync()

        for forbidden in (
            js.add_stream(StreamConfig(name="ELSEWHERE", subjects=["elsewhere.>"])),
            js.delete_stream("TODOS"),
            js.get_msg("TODOS", seq=1),  # exists: the todo event above
        ):
            with pytest.raises(nats.errors.Error):
                await forbidden
        await channel.close()

        provisioner = await connect(cluster, "provisioner")
        names = await provisioner.client.jetstream().streams_info()
        assert {"TODOS", "WIKIPEDIA_DEAD_LETTERS"} <= {i.config.name for i in names}
        assert "ELSEWHERE" not in {i.config.name for i in names}
        await provisioner.client.close()
    finally:
        if leaf is not None:
            leaf.process.kill()
            leaf.process.wait(timeout=15)
        cluster.stop()


async def test_the_dlq_replay_runs_as_its_own_user_and_says_plainly_when_refused(
    cluster: NatsCluster,
) -> None:
    broadcaster = await connect(cluster, "broadcaster")
    letter = {
        "ce-specversion": "1.0",
        "ce-id": "dead-letter-1",
        "ce-type": "todo.created.v1",
        "ce-source": "svc-todo",
        "dlq-subject": "todos.events.created",
        "dlq-reason": "webhook answered 400",
        "dlq-deliveries": "1",
    }
    await broadcaster.client.jetstream().publish("dlq.broadcaster", b"{}", headers=letter)
    await broadcaster.client.close()

    replay = await _replay(cluster, "replay")
    assert replay.returncode == 0, replay.stderr
    assert '"replayed": 1' in replay.stdout.strip().splitlines()[-1]

    refused = await _replay(cluster, "operator")
    assert refused.returncode != 0
    [line] = refused.stderr.strip().splitlines()
    assert line.startswith("svc-broadcaster dlq replay: NATS refused or did not answer")


async def _replay(cluster: NatsCluster, user: str) -> subprocess.CompletedProcess[str]:
    command = str(Path(sys.executable).parent / "svc-broadcaster")
    environment = {
        **os.environ,
        "NATS_URL": cluster.urls[0],
        "NATS_USER": user,
        "NATS_PASSWORD": cluster.passwords[user],
        "DECLARE_STREAMS": "false",
        "LOG_LEVEL": "CRITICAL",
    }
    return await asyncio.to_thread(
        subprocess.run,
        [command, "dlq", "replay"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )
