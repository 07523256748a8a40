"""The metric names the rules, dashboards and canary analysis read: what the services must export.
`used_metric_names` is what a test against the services' real /metrics compares with."""

from __future__ import annotations

from manifest_checks import metrics, render

Rendered = dict[str, list[render.Manifest]]


def test_names_are_read_from_promql() -> None:
    expr = (
        "histogram_quantile(0.99, sum by (le, job) (rate(http_request_duration_seconds_bucket"
        '{job="svc-todo", path=~"/api.*"}[5m]))) > 0.5 and on (job) up offset 1h'
        " or vector(0) > bool job:http_requests:rate5m"
    )
    assert metrics.metric_names(expr) == {
        "http_request_duration_seconds_bucket",
        "up",
        "job:http_requests:rate5m",
    }


def test_grafana_and_analysis_placeholders_are_ignored() -> None:
    expr = 'sum(rate(x_total{namespace="$namespace", h="{{args.canary-hash}}"}[$__rate_interval]))'
    assert metrics.metric_names(expr) == {"x_total"}


def test_every_service_metric_in_use_is_listed(rendered: Rendered) -> None:
    manifests = [m for d in render.DEPLOYABLE for m in rendered[d]]
    used = metrics.used_metric_names(manifests)
    assert {
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "todos_created_total",
        "todos_rejected_total",
        "todo_outbox_oldest_age_seconds",
        "broadcaster_messages_processed_total",
        "broadcaster_consumer_pending",
        "greeter_greetings_total",
        "pingpong_pongs_total",
        "wikipedia_failures_total",
    } <= used
    assert not any(name.startswith(("job:", "namespace:")) for name in used), used
