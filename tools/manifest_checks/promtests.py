"""`promtool test rules`: the unit tests of monitoring/tests/rules.test.yaml against the rules as
an overlay renders them, plus a generated test that every dashboard and canary-analysis query
returns a series from realistic input. A rule without a test fails too."""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from manifest_checks.metrics import Query, queries
from manifest_checks.render import REPO, Manifest, of_kind
from manifest_checks.tools import tool

RULE_TESTS = REPO / "monitoring" / "tests" / "rules.test.yaml"
SCENARIO = "a day of traffic"
"""The test whose input series the generated query test reuses."""

QUERY_ARGUMENTS = {
    "namespace": "todo-production",
    "canary-hash": "canary",
    "route": "svc-pingpong-00002",
    "interval": "2m",
}
"""Values for the AnalysisTemplate's `{{args.*}}`, Flagger's `{{ variables }}` and the dashboard's
`$variables`."""

REFERENCE = "query: "
"""An `expr` written `query: <origin>` is replaced by that dashboard or analysis query."""

_ARGUMENT = re.compile(r"\{\{\s*(?:args\.)?([\w-]+)\s*\}\}")
_INTERVAL = re.compile(r"\$__(rate_)?interval|\$\{__(rate_)?interval\}")
_VARIABLE = re.compile(r"\$\{?(\w+)\}?")


def filled(expr: str) -> str:
    """The query as Prometheus would receive it from Argo Rollouts or Grafana."""
    expr = _ARGUMENT.sub(lambda m: QUERY_ARGUMENTS.get(m[1], "placeholder"), expr)
    expr = _INTERVAL.sub("5m", expr)
    return _VARIABLE.sub(lambda m: QUERY_ARGUMENTS.get(m[1], "placeholder"), expr)


STREAMING_PATHS = {"svc-todo": ("/events",)}
"""Each service's routes whose requests last as long as a page stays open (server-sent events)."""
_LATENCY_SELECTOR = re.compile(r"http_request_duration_seconds_(?:bucket|sum|count)(\{[^}]*\})?")
_JOB = re.compile(r'\bjob="([^"]*)"')


def streaming_problems(manifests: Iterable[Manifest]) -> list[str]:
    """Every query of request latency that may read a streaming service leaves its streaming
    routes out, or one open page makes the p99 as long as the page stays open."""
    problems = []
    for query in queries(manifests):
        for selector in _LATENCY_SELECTOR.finditer(filled(query.expr)):
            matchers = (selector[1] or "").replace(" ", "")
            job = _JOB.search(matchers)
            for service, paths in STREAMING_PATHS.items():
                if job and job[1] != service:
                    continue
                for path in paths:
                    if f'path!="{path}"' not in matchers:
                        problems.append(
                            f"{query.origin}: {selector[0]} does not exclude path {path}"
                        )
    return problems


def _rule_groups(manifests: list[Manifest]) -> list[dict[str, Any]]:
    return [
        group for rules in of_kind(manifests, "PrometheusRule") for group in rules["spec"]["groups"]
    ]


def coverage_problems(groups: list[dict[str, Any]], tests: list[dict[str, Any]]) -> list[str]:
    """Every alert fires in some test, and every recorded series is evaluated in some test."""
    fired = {
        case["alertname"]
        for test in tests
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    evaluated = " ".join(
        case["expr"] for test in tests for case in test.get("promql_expr_test", [])
    )
    problems = []
    for group in groups:
        for rule in group["rules"]:
            if "alert" in rule and rule["alert"] not in fired:
                problems.append(f"alert {rule['alert']}: no test in which it fires")
            if "record" in rule and not re.search(
                rf"(?<![\w:]){re.escape(rule['record'])}(?![\w:])", evaluated
            ):
                problems.append(f"recording rule {rule['record']}: no test evaluates it")
    return problems


def _with_queries(
    tests: list[dict[str, Any]], other: list[Query]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Resolve `query:` references and add the every-query-returns-a-series test."""
    by_origin = {q.origin: q for q in other}
    problems = []
    for test in tests:
        for case in test.get("promql_expr_test", []):
            if case["expr"].startswith(REFERENCE):
                origin = case["expr"].removeprefix(REFERENCE)
                if origin not in by_origin:
                    problems.append(f"{test['name']}: no query {origin!r} in the rendering")
                    continue
                case["expr"] = filled(by_origin[origin].expr)
    scenario = next((t for t in tests if t["name"] == SCENARIO), None)
    if scenario is None:
        return tests, [*problems, f"{RULE_TESTS.name}: no test named {SCENARIO!r}"]
    generated = {
        "name": "every dashboard and analysis query returns a series",
        "interval": scenario["interval"],
        "input_series": scenario["input_series"],
        "promql_expr_test": [
            {
                "expr": f"count({filled(q.expr)}) > bool 0",
                "eval_time": "15m",
                "exp_samples": [{"labels": "{}", "value": 1}],
            }
            for q in other
        ],
    }
    return [*tests, generated], problems


def rule_test_problems(manifests: Iterable[Manifest], test_file: Path = RULE_TESTS) -> list[str]:
    manifests = list(manifests)
    groups = _rule_groups(manifests)
    document = yaml.safe_load(test_file.read_text())
    tests: list[dict[str, Any]] = document["tests"]
    problems = coverage_problems(groups, tests)
    rule_origins = {q.origin for q in queries(of_kind(manifests, "PrometheusRule"))}
    other = [q for q in queries(manifests) if q.origin not in rule_origins]
    tests, reference_problems = _with_queries(tests, other)
    problems.extend(reference_problems)
    with tempfile.TemporaryDirectory() as directory:
        [rule_file] = document["rule_files"]
        (Path(directory) / rule_file).write_text(yaml.safe_dump({"groups": groups}))
        run_file = Path(directory) / test_file.name
        run_file.write_text(yaml.safe_dump({**document, "tests": tests}, sort_keys=False))
        result = subprocess.run(
            [tool("promtool"), "test", "rules", str(run_file)],
            capture_output=True,
            text=True,
            timeout=120,
            cwd=directory,
            check=False,
        )
    if result.returncode != 0:
        output = (result.stdout + result.stderr).splitlines()
        problems.extend(line for line in output if line.strip() and "SUCCESS" not in line)
    return problems
