"""NATS connections, stream declarations and CloudEvent publishing shared by every service."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
from nats.aio.client import NO_RESPONDERS_STATUS, Client
from nats.aio.msg import Msg
from nats.errors import Error as NatsError
from nats.errors import NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import (
    DiscardPolicy,
    Header,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamInfo,
)
from nats.js.errors import APIError, NotFoundError, ServiceUnavailableError

from shared_contracts.catalog import DLQ_DELIVERIES_HEADER, DLQ_REASON_HEADER, Stream, dlq_subject
from shared_contracts.cloudevents import CloudEvent
from shared_runtime.settings import NatsSettings

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 2.0
CLOSE_SECONDS = 5.0
JETSTREAM_PROBE_SECONDS = 2.0
STALE_PEER_SECONDS = 5.0
"""A replica not heard from for this long does not count towards a leader's quorum (replicas
of a stream hear from their leader about every second, idle or not)."""
JETSTREAM_UNAVAILABLE_SECONDS = 10.0
"""How long JetStream may stay unanswered through one server before the link moves to another:
longer than a leader election (about 8 s after a node dies), so only a node that is cut off from
its cluster, or one that cannot serve JetStream for another reason, is left."""


FIRST_CANCEL_GRACE_SECONDS = 1.0
RECANCEL_SECONDS = 0.1


async def cancel_within(task: asyncio.Task[Any], seconds: float) -> bool:
    """Cancel `task` and wait for it at most `seconds`; True if it ended. The first cancellation
    gets up to `FIRST_CANCEL_GRACE_SECONDS` to take effect, so clean-up it starts (a rollback, a
    ledger write, closing a connection) is not cut short; then the task is cancelled again and
    again: nats-py swallows a cancellation in places (a flush, a connect attempt), and one that
    meets a timeout of `asyncio.wait_for` can be lost, so one `cancel()` may not stop it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pause = FIRST_CANCEL_GRACE_SECONDS
    while not task.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            log.warning("task did not stop when cancelled", extra={"task": task.get_name()})
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=min(pause, remaining))
        pause = RECANCEL_SECONDS
    return True


def credentials(settings: NatsSettings) -> dict[str, str]:
    """nats-py's keyword arguments for a creds file, or a user and password."""
    if settings.nats_creds:
        return {"user_credentials": str(settings.nats_creds)}
    if settings.nats_user:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        return {"user": settings.nats_user, "password": password}
    return {}


def seed_list(nats_url: str) -> list[str]:
    """`nats://a:4222,nats://b:4222`: every server of a cluster a client may start from (nats-py
    takes a list; the environment gives one string)."""
    return [url.strip() for url in nats_url.split(",") if url.strip()]


async def connect(settings: NatsSettings, name: str, *, attempts: int | None = None) -> Client:
    """Connect, retrying until the server answers (a service serves HTTP meanwhile and its
    readiness says why), or `attempts` times (a command line tool); once connected, nats-py
    reconnects by itself, forever."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats connection problem", extra={"error": repr(exc)})

    async def on_disconnected() -> None:
        log.warning("nats disconnected")

    async def on_reconnected() -> None:
        log.info("nats reconnected")

    # Shuffled once here, then walked in order: nats-py would reshuffle the whole pool on every
    # reconnect, so a move away from a server that cannot reach JetStream (`NatsLink`) landed
    # on that same server again one time in three.
    servers = random.sample(seed := seed_list(settings.nats_url), len(seed))

    async def connected() -> Client:
        return await nats.connect(
            servers=servers,
            dont_randomize=True,
            name=name,
            connect_timeout=2,
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            error_cb=on_error,
            disconnected_cb=on_disconnected,
            reconnected_cb=on_reconnected,
            **credentials(settings),
        )

    return await retried(connected, on=(OSError, TimeoutError, NatsError), attempts=attempts)


Result = TypeVar("Result")


async def retried(
    operation: Callable[[], Awaitable[Result]],
    *,
    on: tuple[type[Exception], ...],
    attempts: int | None = None,
) -> Result:
    """`operation()` until it succeeds, or `attempts` times, backing off up to 5 s. stamina
    (with tenacity, 10-12 ms of a cold start) is loaded only once a first attempt failed."""
    try:
        return await operation()
    except on:
        if attempts == 1:
            raise
    import stamina

    remaining = None if attempts is None else attempts - 1
    async for attempt in stamina.retry_context(
        on=on, attempts=remaining, timeout=None, wait_max=5.0
    ):
        with attempt:
            return await operation()
    raise AssertionError("unreachable: stamina raises when it gives up")


def stream_config(stream: Stream, *, replicas: int = 1) -> StreamConfig:
    """The catalog's description of `stream` in nats-py's terms."""
    return StreamConfig(
        name=stream.name,
        description=stream.description,
        subjects=list(stream.subjects),
        retention=RetentionPolicy(stream.retention.value),
        storage=StorageType(stream.storage.value),
        discard=DiscardPolicy.OLD if stream.discard_old else DiscardPolicy.NEW,
        max_age=stream.max_age.total_seconds(),
        duplicate_window=stream.duplicate_window.total_seconds(),
        num_replicas=replicas,
    )


async def declare_streams(js: JetStreamContext, streams: Sequence[Stream]) -> None:
    """Create the streams a service relies on (local runs; Kubernetes uses NACK). A stream that
    exists keeps its replica count and anything stronger the deployment gave it: this only
    creates what is missing and adds subjects that are missing, never weakens what is there."""
    for stream in streams:
        try:
            existing = (await js.stream_info(stream.name)).config
        except NotFoundError:
            await js.add_stream(stream_config(stream))
            log.info("stream declared", extra={"stream": stream.name})
            continue
        missing = [s for s in stream.subjects if s not in (existing.subjects or [])]
        if missing:
            existing.subjects = [*(existing.subjects or []), *missing]
            await js.update_stream(existing)
            log.info("stream subjects added", extra={"stream": stream.name, "subjects": missing})


async def publish_event(
    js: JetStreamContext,
    subject: str,
    event: CloudEvent,
    *,
    timeout: float = PUBLISH_TIMEOUT_SECONDS,
) -> bool:
    """Publish in binary mode; True if stored now, False if JetStream dropped it as a duplicate."""
    ack = await js.publish(subject, event.data, headers=event.nats_headers(), timeout=timeout)
    return not ack.duplicate


@dataclass(frozen=True)
class Published:
    """The result of one event of a batch: stored (or dropped as a duplicate) or failed."""

    event: CloudEvent
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


async def publish_events(
    client: Client,
    events: Sequence[tuple[str, CloudEvent]],
    *,
    timeout: float = PUBLISH_TIMEOUT_SECONDS,
) -> list[Published]:
    """Publish a batch as one pipelined write: each message asks JetStream to acknowledge on its
    own subject under one inbox, and the acknowledgements are awaited together. One round trip
    for the batch, and none of a request's bookkeeping per event (a reply token, a future in the
    client's map, a timer). Results keep the batch's order; a connection lost on the way raises,
    and what went out is dropped as a duplicate when published again."""
    loop = asyncio.get_running_loop()
    acks: list[asyncio.Future[Msg]] = [loop.create_future() for _ in events]
    inbox = client.new_inbox()

    async def acknowledged(msg: Msg) -> None:
        index = msg.subject.rpartition(".")[2]
        if index.isdigit() and int(index) < len(acks) and not acks[int(index)].done():
            acks[int(index)].set_result(msg)

    subscription = await client.subscribe(f"{inbox}.*", cb=acknowledged)
    try:
        for index, (subject, event) in enumerate(events):
            await client.publish(
                subject, event.data, reply=f"{inbox}.{index}", headers=event.nats_headers()
            )
        if acks:
            await asyncio.wait(acks, timeout=timeout)
    finally:
        with contextlib.suppress(NatsError):  # a closed connection has dropped it already
            await subscription.unsubscribe()
    return [
        Published(event, _ack_error(ack.result()) if ack.done() else TimeoutError("no ack"))
        for (_, event), ack in zip(events, acks, strict=True)
    ]


def _ack_error(ack: Msg) -> BaseException | None:
    """Why JetStream did not store a published message; None when it did (or dropped it as a
    duplicate of one it has)."""
    if ack.headers and ack.headers.get(Header.STATUS) == NO_RESPONDERS_STATUS:
        return NoRespondersError()
    try:
        answer = json.loads(ack.data)
    except ValueError as exc:
        return exc
    if "error" not in answer:
        return None
    try:
        APIError.from_error(answer["error"])  # raises the error as its own class
    except APIError as exc:
        return exc
    return APIError(description=str(answer["error"]))


async def dead_letter(
    js: JetStreamContext,
    consumer: str,
    headers: Mapping[str, str] | None,
    body: bytes,
    *,
    reason: str,
    deliveries: int,
) -> None:
    """Keep the original message and headers, add why and after how many deliveries."""
    kept: dict[str, Any] = {
        k: v for k, v in (headers or {}).items() if k != "Nats-Msg-Id"
    }  # a replay may fail again
    kept[DLQ_REASON_HEADER] = reason[:1000]
    kept[DLQ_DELIVERIES_HEADER] = str(deliveries)
    await js.publish(dlq_subject(consumer), body, headers=kept)
    log.warning(
        "message dead-lettered",
        extra={"consumer": consumer, "reason": reason, "event_id": kept.get("ce-id")},
    )


def stores(info: StreamInfo) -> bool:
    """The stream has a leader that has heard from a quorum of its replicas lately. A leader
    cut off from its peers goes on answering for a while (about 20 s) but cannot store."""
    cluster = info.cluster
    if cluster is None:
        return True  # one server: it answered
    if not cluster.leader:
        return False
    peers = cluster.replicas or []
    heard = sum(
        1 for peer in peers if not peer.offline and (peer.active or 0) < STALE_PEER_SECONDS * 1e9
    )
    return 1 + heard > (len(peers) + 1) // 2


class NatsLink:
    """A service's NATS connection, opened in the background so HTTP serves from the start:
    `/healthz` answers at once and `/readyz` says what is missing until `setup` (declaring
    streams, binding consumers) has succeeded; both are retried until they do."""

    def __init__(
        self,
        settings: NatsSettings,
        name: str,
        setup: Callable[[Client], Awaitable[None]],
        *,
        probe_stream: str | None = None,
    ) -> None:
        """`probe_stream`: a stream the service relies on (and may ask about), whose info the
        link asks for every few seconds once ready, to notice a server that cannot serve
        JetStream (see `_follow_jetstream`)."""
        self._settings = settings
        self._name = name
        self._setup = setup
        self._probe_stream = probe_stream
        self._client: Client | None = None
        self._ready = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._open(), name=f"{self._name}-nats")

    @property
    def client(self) -> Client | None:
        return self._client

    def readiness(self) -> str | None:
        if self._client is None or not self._client.is_connected:
            return "nats not connected"
        return None if self._ready else "nats connected, consumers not bound yet"

    async def close(self) -> None:
        """Stop trying; drain the connection, so acks and publishes in flight are delivered."""
        if self._task is not None:
            await cancel_within(self._task, CLOSE_SECONDS)
        if self._client is not None and not self._client.is_closed:
            with contextlib.suppress(NatsError, TimeoutError):
                await asyncio.wait_for(self._client.drain(), CLOSE_SECONDS)
            if not self._client.is_closed:
                await self._client.close()

    async def _open(self) -> None:
        self._client = client = await connect(self._settings, self._name)
        await retried(lambda: self._setup(client), on=(NatsError, TimeoutError))
        self._ready = True
        log.info("nats ready", extra={"service": self._name})
        if self._probe_stream is not None:
            await self._follow_jetstream(self._client, self._probe_stream)

    async def _follow_jetstream(self, client: Client, stream: str) -> None:
        """A node cut off from its peers keeps its clients' connections open but stores nothing
        (no responders, 503, or, while it still takes itself for a leader, timeouts): a client
        left there waits for the partition to heal while the rest of the cluster works. When
        the stream has not been able to store through this server for
        JETSTREAM_UNAVAILABLE_SECONDS, move to the next server of the seed list."""
        js = client.jetstream(timeout=JETSTREAM_PROBE_SECONDS)
        loop = asyncio.get_running_loop()
        unanswered_since: float | None = None
        while True:
            await asyncio.sleep(JETSTREAM_PROBE_SECONDS)
            if not client.is_connected:
                unanswered_since = None
                continue
            try:
                serving = stores(await js.stream_info(stream))
            except (ServiceUnavailableError, NoRespondersError, TimeoutError):
                serving = False
            except NatsError:
                serving = True  # answered, if not as hoped: this server reaches JetStream
            if serving:
                unanswered_since = None
                continue
            unanswered_since = unanswered_since or loop.time()
            if loop.time() - unanswered_since >= JETSTREAM_UNAVAILABLE_SECONDS:
                server = client.connected_url.netloc if client.connected_url else ""
                log.warning(
                    "jetstream unavailable through this server; moving to another",
                    extra={"server": server},
                )
                unanswered_since = None
                await client.force_reconnect()
