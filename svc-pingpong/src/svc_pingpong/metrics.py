"""svc-pingpong's Prometheus metrics (process-wide, like the default registry they live in)."""

from prometheus_client import Counter

PONGS = Counter("pingpong_pongs", "Pongs served by this process")
