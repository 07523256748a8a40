"""One webhook call, classified as sent, worth retrying, or hopeless.

5xx, 408, 429, timeouts and connection errors are worth retrying (a 429 also pauses this replica
for its `Retry-After`); any other 4xx means the request itself is wrong and is dead-lettered.
Nothing here logs a URL: the Telegram token and Slack/Discord webhook URLs are credentials.
Calls go through one aiohttp session with keep-alive connections: at a thousand calls a second
the HTTP client is the broadcaster's largest cost, and aiohttp's is about half of httpx's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import aiohttp

from svc_broadcaster.formats import Destination
from svc_broadcaster.metrics import WEBHOOK_ERRORS, WEBHOOK_LATENCY
from svc_broadcaster.ratelimit import TokenBucket

log = logging.getLogger(__name__)

RETRYABLE_CLIENT_ERRORS = (408, 429)
DEFAULT_RATE_LIMIT_PAUSE_SECONDS = 1.0


@dataclass(frozen=True)
class Sent:
    pass


@dataclass(frozen=True)
class Retry:
    reason: str
    after_seconds: float | None = None


@dataclass(frozen=True)
class Reject:
    reason: str


Outcome = Sent | Retry | Reject


class Webhook:
    def __init__(
        self,
        destination: Destination,
        session: aiohttp.ClientSession,
        limiter: TokenBucket,
        user_agent: str,
    ) -> None:
        self._destination = destination
        self._session = session
        self._limiter = limiter
        self._user_agent = user_agent

    async def wait_for_turn(self) -> None:
        """Block until the destination's rate limit allows one more call."""
        await self._limiter.acquire()

    async def send(self, event_id: str, text: str) -> Outcome:
        if self._destination.url is None:
            log.info("chat message", extra={"event_id": event_id, "chat_text": text})
            return Sent()
        headers = {"Idempotency-Key": event_id, "User-Agent": self._user_agent}
        started = time.perf_counter()
        try:
            async with self._session.post(
                self._destination.url, json=self._destination.payload(text), headers=headers
            ) as response:
                body = await response.read()
        except TimeoutError:
            WEBHOOK_ERRORS.labels("timeout").inc()
            return Retry("webhook timed out")
        except aiohttp.ClientError as exc:
            WEBHOOK_ERRORS.labels("connection").inc()
            return Retry(f"webhook connection failed: {type(exc).__name__}")
        finally:
            WEBHOOK_LATENCY.observe(time.perf_counter() - started)
        return self._classify(response.status, response.headers, body)

    def _classify(self, status: int, headers: Mapping[str, str], body: bytes) -> Outcome:
        if 200 <= status < 300:
            return Sent()
        if status == 429:
            WEBHOOK_ERRORS.labels("rate_limited").inc()
            after = retry_after_seconds(headers, body)
            self._limiter.pause(after if after is not None else DEFAULT_RATE_LIMIT_PAUSE_SECONDS)
            return Retry("webhook answered 429 (rate limited)", after)
        if status >= 500 or status in RETRYABLE_CLIENT_ERRORS:
            WEBHOOK_ERRORS.labels("server_error" if status >= 500 else "timeout").inc()
            return Retry(f"webhook answered {status}")
        WEBHOOK_ERRORS.labels("client_error").inc()
        text = self._destination.redact(body[:300].decode(errors="replace"))
        return Reject(f"webhook answered {status}: {text}")


def retry_after_seconds(headers: Mapping[str, str], body: bytes) -> float | None:
    """`Retry-After` (seconds or an HTTP date), else Discord's `retry_after` or Telegram's
    `parameters.retry_after` from the JSON body."""
    header = headers.get("Retry-After")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            pass
        try:
            return max(0.0, (parsedate_to_datetime(header) - datetime.now(UTC)).total_seconds())
        except (TypeError, ValueError):
            pass
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    parameters = document.get("parameters")
    value = document.get("retry_after") or (
        parameters.get("retry_after") if isinstance(parameters, dict) else None
    )
    return float(value) if isinstance(value, int | float) else None


def open_session(timeout_seconds: float, connections: int) -> aiohttp.ClientSession:
    """Keep-alive connections, at most one per delivery in flight."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=timeout_seconds),
        connector=aiohttp.TCPConnector(limit=connections),
    )
