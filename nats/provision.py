"""Declare the JetStream streams, consumers and bucket for `docker compose up`, as NACK does in
Kubernetes, so every service binds as its own least-privilege user (DECLARE_STREAMS=false).

Reads the NACK manifests (nats/jetstream/*.yaml) so compose and Kubernetes cannot disagree; adds
the WIKIPEDIA stream and the `wikipedia` consumer from the catalog, which Knative's channel owns
in Kubernetes. One replica each (one node) unless `replicas=None`, which keeps the manifests' own
(R3 on the Kubernetes cluster). Idempotent: run again, it updates what exists. Runs as the
`provisioner` user in any service image (nats-py, PyYAML and the shared libraries are there):

    NATS_URL=nats://nats:4222 NATS_USER=provisioner NATS_PASSWORD=... \
        python nats_provision.py /provision/jetstream
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import nats
import yaml
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    KeyValueConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import BadRequestError

from shared_contracts.catalog import WIKIPEDIA, WIKIPEDIA_CONSUMER
from shared_runtime.delivery import ConsumerOptions, consumer_config
from shared_runtime.messaging import stream_config as catalog_stream

_DURATION = re.compile(r"(\d+)([hms])")


def seconds(duration: str) -> float:
    """`720h`, `30s`, `1h30m` as NACK writes them."""
    unit = {"h": 3600, "m": 60, "s": 1}
    return float(sum(int(n) * unit[u] for n, u in _DURATION.findall(duration)))


def load_manifests(directory: Path) -> list[dict[str, Any]]:
    documents: list[dict[str, Any]] = []
    for path in sorted(directory.glob("*.yaml")):
        documents += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return documents


def stream_config(spec: dict[str, Any], replicas: int | None = 1) -> StreamConfig:
    return StreamConfig(
        name=spec["name"],
        description=spec.get("description"),
        subjects=spec["subjects"],
        retention=RetentionPolicy(spec.get("retention", "limits")),
        storage=StorageType(spec.get("storage", "file")),
        discard=DiscardPolicy(spec.get("discard", "old")),
        max_age=seconds(spec.get("maxAge", "0s")),
        duplicate_window=seconds(spec.get("duplicateWindow", "2m")),
        num_replicas=replicas or spec.get("replicas", 1),
    )


def nack_consumer_config(spec: dict[str, Any], replicas: int | None = 1) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=spec["durableName"],
        description=spec.get("description"),
        filter_subject=spec["filterSubject"],
        deliver_policy=DeliverPolicy(spec.get("deliverPolicy", "all")),
        ack_policy=AckPolicy(spec["ackPolicy"]),
        ack_wait=seconds(spec["ackWait"]),
        max_deliver=spec["maxDeliver"],
        max_ack_pending=spec["maxAckPending"],
        num_replicas=replicas or spec.get("replicas", 1),
    )


async def put_stream(js: JetStreamContext, config: StreamConfig) -> None:
    try:
        await js.add_stream(config)
    except BadRequestError:
        await js.update_stream(config)


async def provision(
    js: JetStreamContext, manifests: list[dict[str, Any]], replicas: int | None = 1
) -> list[str]:
    """Streams first, then what lives in them; returns what was declared, for the log."""
    declared: list[str] = []
    for manifest in (m for m in manifests if m["kind"] == "Stream"):
        await put_stream(js, stream_config(manifest["spec"], replicas))
        declared.append(f"stream {manifest['spec']['name']}")
    await put_stream(js, catalog_stream(WIKIPEDIA, replicas=replicas or 3))
    declared.append(f"stream {WIKIPEDIA.name}")
    consumers = [
        (m["spec"]["streamName"], nack_consumer_config(m["spec"], replicas))
        for m in manifests
        if m["kind"] == "Consumer"
    ]
    wikipedia = replace(
        consumer_config(WIKIPEDIA_CONSUMER, ConsumerOptions()), num_replicas=replicas or 3
    )
    for stream, config in [*consumers, (WIKIPEDIA.name, wikipedia)]:
        await js.add_consumer(stream, config)  # creates, or updates the mutable settings
        declared.append(f"consumer {stream}/{config.durable_name}")
    for manifest in (m for m in manifests if m["kind"] == "KeyValue"):
        spec = manifest["spec"]
        await js.create_key_value(
            KeyValueConfig(
                bucket=spec["bucket"],
                description=spec.get("description"),
                history=spec.get("history", 1),
                ttl=seconds(spec.get("ttl", "0s")),
                storage=StorageType(spec.get("storage", "file")),
                replicas=replicas or spec.get("replicas", 1),
            )
        )
        declared.append(f"bucket {spec['bucket']}")
    return declared


async def main(manifest_dir: Path) -> None:
    client = await nats.connect(
        os.environ.get("NATS_URL", "nats://127.0.0.1:4222"),
        user=os.environ.get("NATS_USER"),
        password=os.environ.get("NATS_PASSWORD"),
        connect_timeout=5,
        max_reconnect_attempts=10,
    )
    try:
        for item in await provision(client.jetstream(), load_manifests(manifest_dir)):
            print(f"declared {item}", flush=True)
    finally:
        await client.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1] if len(sys.argv) > 1 else "/provision/jetstream")))
