"""A service's connection to the NATS cluster moves to another node when asked to: `NatsLink`
asks when JetStream cannot store through the node it is on (a node cut off from its peers)."""

from __future__ import annotations

import pytest

from shared_runtime.messaging import connect
from shared_runtime.settings import NatsSettings, Secret
from shared_testkit.nats_cluster import NatsCluster
from shared_testkit.polling import eventually

pytestmark = pytest.mark.integration


async def test_a_move_always_lands_on_another_node(nats_cluster: NatsCluster) -> None:
    """Six moves in a row, each to a node other than the one left (nats-py's own choice came
    back to the same node one time in three, leaving a client on a cut-off node)."""
    settings = NatsSettings(
        nats_url=nats_cluster.seed_url,
        nats_user="todo",
        nats_password=Secret(nats_cluster.passwords["todo"]),
    )
    client = await connect(settings, "failover-test")
    try:
        for move in range(1, 7):
            assert client.connected_url is not None
            left = client.connected_url.netloc
            await client.force_reconnect()

            async def moved(count: int = move) -> bool:
                return client.is_connected and client.stats["reconnects"] == count

            await eventually(moved, timeout=10, message=f"move {move}")
            assert client.connected_url is not None
            assert client.connected_url.netloc != left, f"move {move} came back to {left}"
    finally:
        await client.close()
