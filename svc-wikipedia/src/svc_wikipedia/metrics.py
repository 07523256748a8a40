"""What operators watch: suggestions made, failures by kind, and how long Wikipedia takes.

Prometheus metrics live in the process-wide registry that `/metrics` exposes, so they are
defined once here rather than per app instance.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SUGGESTIONS = Counter(
    "wikipedia_suggestions_total",
    "Todo commands published; outcome=duplicate when JetStream had already stored that command",
    ["outcome"],
)
FAILURES = Counter(
    "wikipedia_failures_total",
    "Triggers that made no suggestion, by kind (timeout, server_error, invalid_event, ...)",
    ["kind"],
)
RESOLVE_SECONDS = Histogram(
    "wikipedia_resolve_seconds",
    "Time to resolve a random article, retries included",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
