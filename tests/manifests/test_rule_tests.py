"""`promtool test rules` for the alerts and recording rules, and the checks that keep the
request-latency queries free of the live-update streams."""

from __future__ import annotations

import copy

import pytest
from manifest_checks import promtests, render

Rendered = dict[str, list[render.Manifest]]
PRODUCTION = "k8s/overlays/production"


@pytest.fixture
def production(rendered: Rendered) -> list[render.Manifest]:
    return copy.deepcopy(rendered[PRODUCTION])


def _rules(manifests: list[render.Manifest]) -> list[dict[str, str]]:
    return [
        rule
        for rule_set in render.of_kind(manifests, "PrometheusRule")
        for group in rule_set["spec"]["groups"]
        for rule in group["rules"]
    ]


def test_every_rule_and_query_passes_its_tests(production: list[render.Manifest]) -> None:
    assert promtests.rule_test_problems(production) == []
    assert promtests.streaming_problems(production) == []


def test_live_update_streams_in_the_p99_are_caught(production: list[render.Manifest]) -> None:
    for rule in _rules(production):
        rule["expr"] = rule["expr"].replace('{path!="/events"}', "")
    problems = promtests.rule_test_problems(production)
    assert any('expr: "job:http_request_duration_seconds:p99_5m{job=' in p for p in problems)
    assert promtests.streaming_problems(production) == [
        "PrometheusRule/todo-production/todo-platform job:http_request_duration_seconds:p99_5m: "
        "http_request_duration_seconds_bucket does not exclude path /events"
    ]


def test_a_rule_without_a_test_fails(production: list[render.Manifest]) -> None:
    [*_, last_group] = next(render.of_kind(production, "PrometheusRule"))["spec"]["groups"]
    last_group["rules"].append({"alert": "Untested", "expr": "vector(1)"})
    last_group["rules"].append({"record": "namespace:untested:sum", "expr": "vector(1)"})
    problems = promtests.rule_test_problems(production)
    assert "alert Untested: no test in which it fires" in problems
    assert "recording rule namespace:untested:sum: no test evaluates it" in problems


def test_a_dashboard_query_without_data_fails(production: list[render.Manifest]) -> None:
    template = next(render.of_kind(production, "AnalysisTemplate"))
    template["spec"]["metrics"][0]["provider"]["prometheus"]["query"] = (
        'sum(rate(http_requests_total{job="svc-todo", rollouts_pod_template_hash="nope"}[2m]))'
    )
    problems = promtests.rule_test_problems(production)
    assert any('rollouts_pod_template_hash=\\"nope\\"' in p for p in problems), problems
