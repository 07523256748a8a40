"""The `<RFC 3339 timestamp>: <uuid>` line, logged on a timer; one uuid per process."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

log = logging.getLogger(__name__)


def rfc3339_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Heartbeat:
    def __init__(self, interval_seconds: float) -> None:
        self.instance_id = uuid.uuid4()
        self.interval_seconds = interval_seconds

    def line(self) -> str:
        return f"{rfc3339_now()}: {self.instance_id}"

    async def run(self) -> None:
        while True:
            log.info("%s", self.line())
            await asyncio.sleep(self.interval_seconds)
