"""`svc-wikipedia fetch-page`: keep a file holding a Wikipedia article's HTML.

Once, it is an init container (exit status says whether the page was written); with `--every`
it is a sidecar that refreshes the page at random intervals until SIGTERM. The file is replaced
atomically so a web server reading it never serves half a page.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
import re
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

from svc_wikipedia.settings import WikipediaSettings
from svc_wikipedia.wikipedia import WikipediaClient, WikipediaUnavailable, open_wikipedia

log = logging.getLogger(__name__)

_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:-\s*(\d+(?:\.\d+)?))?\s*([smh])\s*$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600}
PAGE_MODE = 0o644
"""Readable by a web server running as another user in a shared volume."""


@dataclass(frozen=True)
class Interval:
    """A random pause between `shortest` and `longest` seconds (spreads load, not a secret)."""

    shortest: float
    longest: float

    def draw(self) -> float:
        return random.uniform(self.shortest, self.longest)  # noqa: S311


def parse_interval(text: str) -> Interval:
    """`5-15m`, `30s`, `1h`: a range or a single value, in seconds, minutes or hours."""
    match = _INTERVAL.match(text)
    if not match:
        raise ValueError(f"expected an interval like 5-15m, 30s or 1h, got {text!r}")
    low, high, unit = match.groups()
    shortest = float(low) * _UNIT_SECONDS[unit]
    longest = float(high or low) * _UNIT_SECONDS[unit]
    if shortest <= 0 or longest < shortest:
        raise ValueError(f"interval must be positive and low-high in order, got {text!r}")
    return Interval(shortest, longest)


def write_atomically(path: Path, content: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, PAGE_MODE)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


async def fetch_page(
    settings: WikipediaSettings, out: Path, *, url: str | None, every: Interval | None
) -> int:
    """Write the page once (exit status 0/1), or keep refreshing it until SIGTERM/SIGINT."""
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stopping.set)

    async with open_wikipedia(settings) as wikipedia:
        while True:
            written = await _refresh(wikipedia, out, url)
            if every is None:
                return 0 if written else 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stopping.wait(), every.draw())
            if stopping.is_set():
                return 0


async def _refresh(wikipedia: WikipediaClient, out: Path, url: str | None) -> bool:
    try:
        html = await wikipedia.page_html(url)
    except WikipediaUnavailable as failure:
        log.error(
            "page not fetched",
            extra={"kind": failure.kind.value, "error": str(failure), "out": str(out)},
        )
        return False
    await asyncio.to_thread(write_atomically, out, html)
    log.info("page written", extra={"out": str(out), "bytes": len(html)})
    return True
