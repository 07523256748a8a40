"""How a service reads a cluster: the seed list it is given, and whether the answer a server gave
about a stream means the stream can store (a leader cut off from its peers still answers)."""

from __future__ import annotations

from typing import Any

import pytest
from nats.js.api import StreamInfo

from shared_runtime.messaging import seed_list, stores

SECOND = 1_000_000_000
STATE = {"messages": 0, "bytes": 0, "first_seq": 0, "last_seq": 0, "consumer_count": 1}


def info(leader: str | None, *peers: tuple[str, float, bool]) -> StreamInfo:
    """A STREAM.INFO answer of a cluster node; peers as (name, seconds since heard, offline)."""
    cluster: dict[str, Any] = {
        "name": "todo-nats",
        "leader": leader,
        "replicas": [
            {"name": name, "current": True, "offline": offline, "active": int(seconds * SECOND)}
            for name, seconds, offline in peers
        ],
    }
    return StreamInfo.from_response(
        {"config": {"name": "TODOS"}, "state": STATE, "cluster": cluster}
    )


def test_a_seed_list_names_every_server_and_one_url_is_a_list_of_one() -> None:
    assert seed_list("nats://a:4222, nats://b:4222,nats://c:4222") == [
        "nats://a:4222",
        "nats://b:4222",
        "nats://c:4222",
    ]
    assert seed_list("nats://nats:4222") == ["nats://nats:4222"]


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        (info("nats-0", ("nats-1", 0.2, False), ("nats-2", 0.9, False)), True),
        (info("nats-0", ("nats-1", 0.2, False), ("nats-2", 0.0, True)), True),
        (info(None, ("nats-1", 0.2, False), ("nats-2", 0.2, False)), False),
        (info("nats-0", ("nats-1", 12.0, False), ("nats-2", 12.0, False)), False),
        (info("nats-0", ("nats-1", 0.5, True), ("nats-2", 9.0, False)), False),
    ],
    ids=["all heard", "one replica down", "no leader", "leader cut off", "leader alone"],
)
def test_a_stream_stores_while_its_leader_hears_from_a_quorum(
    answer: StreamInfo, expected: bool
) -> None:
    assert stores(answer) is expected


def test_one_server_that_answers_stores() -> None:
    single = StreamInfo.from_response({"config": {"name": "TODOS"}, "state": STATE})
    assert stores(single)
