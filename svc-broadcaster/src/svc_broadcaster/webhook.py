"""One webhook call, classified as sent, worth retrying, or hopeless.

5xx, 408, 429, timeouts and connection errors are worth retrying (a 429 also pauses this replica
for its `Retry-After`); any other 4xx means the request itself is wrong and is dead-lettered.
Nothing here logs a URL: the Telegram token and Slack/Discord webhook URLs are credentials.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx

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
        client: httpx.AsyncClient,
        limiter: TokenBucket,
        user_agent: str,
    ) -> None:
        self._destination = destination
        self._client = client
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
            response = await self._client.post(
                self._destination.url, json=self._destination.payload(text), headers=headers
            )
        except httpx.TimeoutException:
            WEBHOOK_ERRORS.labels("timeout").inc()
            return Retry("webhook timed out")
        except httpx.TransportError as exc:
            WEBHOOK_ERRORS.labels("connection").inc()
            return Retry(f"webhook connection failed: {type(exc).__name__}")
        finally:
            WEBHOOK_LATENCY.observe(time.perf_counter() - started)
        return self._classify(response)

    def _classify(self, response: httpx.Response) -> Outcome:
        status = response.status_code
        if response.is_success:
            return Sent()
        if status == 429:
            WEBHOOK_ERRORS.labels("rate_limited").inc()
            after = retry_after_seconds(response)
            self._limiter.pause(after if after is not None else DEFAULT_RATE_LIMIT_PAUSE_SECONDS)
            return Retry("webhook answered 429 (rate limited)", after)
        if status >= 500 or status in RETRYABLE_CLIENT_ERRORS:
            WEBHOOK_ERRORS.labels("server_error" if status >= 500 else "timeout").inc()
            return Retry(f"webhook answered {status}")
        WEBHOOK_ERRORS.labels("client_error").inc()
        body = self._destination.redact(response.text[:300])
        return Reject(f"webhook answered {status}: {body}")


def retry_after_seconds(response: httpx.Response) -> float | None:
    """`Retry-After` (seconds or an HTTP date), else Discord's `retry_after` or Telegram's
    `parameters.retry_after` from the JSON body."""
    header = response.headers.get("Retry-After")
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
        body = json.loads(response.content)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    parameters = body.get("parameters")
    value = body.get("retry_after") or (
        parameters.get("retry_after") if isinstance(parameters, dict) else None
    )
    return float(value) if isinstance(value, int | float) else None
