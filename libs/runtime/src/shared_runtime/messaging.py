"""NATS connections, stream declarations and CloudEvent publishing shared by every service."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import nats
from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from shared_contracts.catalog import DLQ_DELIVERIES_HEADER, DLQ_REASON_HEADER, Stream, dlq_subject
from shared_contracts.cloudevents import CloudEvent
from shared_runtime.settings import NatsSettings

log = logging.getLogger(__name__)

PUBLISH_TIMEOUT_SECONDS = 2.0
CLOSE_SECONDS = 5.0


async def cancel_within(task: asyncio.Task[Any], seconds: float) -> bool:
    """Cancel `task` and wait for it at most `seconds`; True if it ended. Cancelled again and
    again: nats-py swallows a cancellation in places (a flush, a connect attempt), so one
    `cancel()` may not stop a task that is inside it."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not task.done():
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            log.warning("task did not stop when cancelled", extra={"task": task.get_name()})
            return False
        task.cancel()
        await asyncio.wait({task}, timeout=min(0.1, remaining))
    return True


def credentials(settings: NatsSettings) -> dict[str, str]:
    """nats-py's keyword arguments for a creds file, or a user and password."""
    if settings.nats_creds:
        return {"user_credentials": str(settings.nats_creds)}
    if settings.nats_user:
        password = settings.nats_password.get_secret_value() if settings.nats_password else ""
        return {"user": settings.nats_user, "password": password}
    return {}


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

    import stamina  # here, not at the top: a function's cold start stays without it

    async for attempt in stamina.retry_context(
        on=(OSError, TimeoutError, NatsError), attempts=attempts, timeout=None, wait_max=5.0
    ):
        with attempt:
            return await nats.connect(
                servers=[settings.nats_url],
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
    raise AssertionError("unreachable: retried forever")


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
    js: JetStreamContext,
    events: Sequence[tuple[str, CloudEvent]],
    *,
    timeout: float = PUBLISH_TIMEOUT_SECONDS,
) -> list[Published]:
    """Publish a batch concurrently (every publish in flight at once, then every ack awaited):
    one round trip for the batch instead of one per event. Results keep the batch's order."""
    results = await asyncio.gather(
        *(publish_event(js, subject, event, timeout=timeout) for subject, event in events),
        return_exceptions=True,
    )
    return [
        Published(event, result if isinstance(result, BaseException) else None)
        for (_, event), result in zip(events, results, strict=True)
    ]


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


class NatsLink:
    """A service's NATS connection, opened in the background so HTTP serves from the start:
    `/healthz` answers at once and `/readyz` says what is missing until `setup` (declaring
    streams, binding consumers) has succeeded; both are retried until they do."""

    def __init__(
        self,
        settings: NatsSettings,
        name: str,
        setup: Callable[[Client], Awaitable[None]],
    ) -> None:
        self._settings = settings
        self._name = name
        self._setup = setup
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
        import stamina

        self._client = await connect(self._settings, self._name)
        async for attempt in stamina.retry_context(
            on=(NatsError, TimeoutError), attempts=None, timeout=None, wait_max=5.0
        ):
            with attempt:
                await self._setup(self._client)
        self._ready = True
        log.info("nats ready", extra={"service": self._name})
