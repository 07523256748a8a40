"""svc-todo's own Prometheus metrics (process-wide, like the default registry they live in)."""

from prometheus_client import Counter, Gauge, Histogram

TODOS_CREATED = Counter("todos_created", "Todos accepted, from any trigger", ["via"])
TODOS_REJECTED = Counter("todos_rejected", "Todo writes refused, by rule", ["reason"])
OUTBOX_BACKLOG = Gauge("todo_outbox_backlog", "Outbox events not yet on the stream")
OUTBOX_OLDEST_AGE = Gauge(
    "todo_outbox_oldest_age_seconds", "Age of the oldest unpublished outbox event"
)
OUTBOX_PUBLISH_SECONDS = Histogram(
    "todo_outbox_publish_seconds",
    "Time from a change's commit to its event being stored by JetStream",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
COMMANDS_PROCESSED = Counter(
    "todo_commands_processed", "todo.create.v1 commands by outcome", ["outcome"]
)
