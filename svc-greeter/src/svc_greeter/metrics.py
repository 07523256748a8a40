"""svc-greeter's Prometheus metrics (process-wide, like the default registry they live in)."""

from prometheus_client import Counter

GREETINGS = Counter(
    "greeter_greetings", "Greetings served, by version (shows the mesh's split)", ["version"]
)
