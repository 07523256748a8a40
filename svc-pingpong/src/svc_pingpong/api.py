"""The ping-pong routes: `pong N` as plain text and the running total as JSON."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from litestar import MediaType, get
from litestar.di import NamedDependency
from litestar.exceptions import ServiceUnavailableException
from msgspec import Struct

from svc_pingpong.counter import CounterUnavailable, PongCounter
from svc_pingpong.metrics import PONGS


class Pings(Struct):
    pings: int


@contextmanager
def _unavailable_as_503() -> Iterator[None]:
    try:
        yield
    except CounterUnavailable as exc:
        raise ServiceUnavailableException(detail=str(exc)) from exc


@get("/pingpong", media_type=MediaType.TEXT)
async def pingpong(counter: NamedDependency[PongCounter]) -> str:
    with _unavailable_as_503():
        number = await counter.take()
    PONGS.inc()
    return f"pong {number}"


@get("/pings")
async def pings(counter: NamedDependency[PongCounter]) -> Pings:
    """How many pongs every replica together has served."""
    with _unavailable_as_503():
        return Pings(pings=await counter.taken())
