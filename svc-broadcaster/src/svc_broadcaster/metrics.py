"""Prometheus series of the broadcaster, registered once per process in the default registry."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

OUTCOMES = ("sent", "duplicate", "retried", "deferred", "dead_lettered")
ERROR_KINDS = ("timeout", "connection", "rate_limited", "server_error", "client_error")

MESSAGES_PROCESSED = Counter(
    "broadcaster_messages_processed",
    "Todo events handled, by outcome (deferred: another replica holds a live claim)",
    ["outcome"],
)
WEBHOOK_ERRORS = Counter(
    "broadcaster_webhook_errors", "Failed webhook calls, by kind of failure", ["kind"]
)
WEBHOOK_LATENCY = Histogram(
    "broadcaster_webhook_latency_seconds",
    "Duration of webhook calls, failed ones included",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
ORDER_WAITS = Histogram(
    "broadcaster_order_wait_seconds",
    "How long todo events waited for the todo's previous event to be settled, by outcome "
    "(predecessor_unseen: nobody held it, so the event went out before it)",
    ["outcome"],
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600, 3600),
)
CONSUMER_PENDING = Gauge(
    "broadcaster_consumer_pending", "Events in the stream not yet delivered to any replica"
)
CONSUMER_ACK_PENDING = Gauge(
    "broadcaster_consumer_ack_pending", "Events delivered to a replica and not yet acknowledged"
)

for _outcome in OUTCOMES:
    MESSAGES_PROCESSED.labels(_outcome)
for _kind in ERROR_KINDS:
    WEBHOOK_ERRORS.labels(_kind)
for _order in ("in_order", "predecessor_unseen"):
    ORDER_WAITS.labels(_order)
