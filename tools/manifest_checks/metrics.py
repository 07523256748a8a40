"""PromQL in alerts, recording rules, dashboards and canary analysis: checked by promtool, and the
metric names it reads listed, so a test can compare them with what the services really export."""

from __future__ import annotations

import json
import re
import subprocess
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from manifest_checks.render import Manifest, name_of, of_kind
from manifest_checks.tools import tool

DASHBOARD_LABEL = "grafana_dashboard"

_PLACEHOLDERS = (
    (re.compile(r"\$__(rate_)?interval|\$\{__(rate_)?interval\}|\{\{\s*interval\s*\}\}"), "5m"),
    (re.compile(r"\{\{\s*\w+\s*\}\}"), "placeholder"),
    (re.compile(r"\$\{?\w+\}?"), "placeholder"),
    (re.compile(r"\{\{\s*args\.[\w-]+\s*\}\}"), "placeholder"),
)
_LABEL_VALUES = re.compile(r"^\s*label_values\((?P<expr>.+),\s*\w+\s*\)\s*$")

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_LABEL_LISTS = re.compile(
    r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)", re.IGNORECASE
)
_IDENTIFIER = re.compile(r"(?<![\w.:])([A-Za-z_:][\w:]*)(?![\w:])(?!\s*\()")
_KEYWORDS = frozenset(
    {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring"}
    | {"group_left", "group_right", "inf", "nan"}
)


@dataclass(frozen=True)
class Query:
    """One PromQL expression and where it is written."""

    origin: str
    expr: str


def _fill_placeholders(expr: str) -> str:
    for pattern, value in _PLACEHOLDERS:
        expr = pattern.sub(value, expr)
    return expr


def _dashboard_queries(origin: str, dashboard: dict[str, Any]) -> Iterator[Query]:
    def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        for panel in items:
            yield panel
            yield from panels(panel.get("panels", []))

    for panel in panels(dashboard.get("panels", [])):
        for target in panel.get("targets", []):
            if target.get("expr"):
                yield Query(f"{origin} panel {panel.get('title')!r}", target["expr"])
    for variable in dashboard.get("templating", {}).get("list", []):
        query = variable.get("query")
        text = query.get("query") if isinstance(query, dict) else None
        if variable.get("type") == "query" and text and (found := _LABEL_VALUES.match(text)):
            yield Query(f"{origin} variable {variable.get('name')!r}", found["expr"])


def queries(manifests: Iterable[Manifest]) -> list[Query]:
    """Every PromQL expression in PrometheusRules, AnalysisTemplates, Flagger MetricTemplates and
    dashboard ConfigMaps."""
    manifests = list(manifests)
    found = []
    for rule_set in of_kind(manifests, "PrometheusRule"):
        for group in rule_set["spec"]["groups"]:
            for rule in group["rules"]:
                label = rule.get("record") or rule.get("alert")
                found.append(Query(f"{name_of(rule_set)} {label}", rule["expr"]))
    for template in of_kind(manifests, "MetricTemplate"):
        found.append(Query(name_of(template), template["spec"]["query"]))
    for template in of_kind(manifests, "AnalysisTemplate", "ClusterAnalysisTemplate"):
        for metric in template["spec"]["metrics"]:
            if prometheus := metric.get("provider", {}).get("prometheus"):
                found.append(Query(f"{name_of(template)} {metric['name']}", prometheus["query"]))
    for config_map in of_kind(manifests, "ConfigMap"):
        if DASHBOARD_LABEL in config_map.get("metadata", {}).get("labels", {}):
            for key, text in config_map.get("data", {}).items():
                found.extend(_dashboard_queries(f"{name_of(config_map)} {key}", json.loads(text)))
    return found


def recorded_names(manifests: Iterable[Manifest]) -> set[str]:
    """Series the rules themselves make: read by dashboards, but not exported by any service."""
    return {
        rule["record"]
        for rule_set in of_kind(manifests, "PrometheusRule")
        for group in rule_set["spec"]["groups"]
        for rule in group["rules"]
        if "record" in rule
    }


def metric_names(expr: str) -> set[str]:
    """The metric names one expression selects (functions, keywords and label names left out)."""
    text = _STRINGS.sub('""', _fill_placeholders(expr))
    while _MATCHERS.search(text):
        text = _MATCHERS.sub(" ", text)
    text = _RANGES.sub(" ", text)
    text = _LABEL_LISTS.sub(" ", text)
    return {name for name in _IDENTIFIER.findall(text) if name.lower() not in _KEYWORDS}


def used_metric_names(manifests: Iterable[Manifest]) -> set[str]:
    """Metrics the rules, dashboards and analysis read that only the services can export."""
    manifests = list(manifests)
    used = set().union(*(metric_names(q.expr) for q in queries(manifests)))
    return used - recorded_names(manifests)


def promtool_problems(manifests: Iterable[Manifest]) -> list[str]:
    """`promtool check rules` on the PrometheusRules, and on every dashboard and analysis query
    wrapped as a recording rule so that promtool parses it too."""
    manifests = list(manifests)
    groups: list[dict[str, Any]] = []
    for rule_set in of_kind(manifests, "PrometheusRule"):
        groups.extend(rule_set["spec"]["groups"])
    rule_queries = {q.origin for q in queries(of_kind(manifests, "PrometheusRule"))}
    other = [q for q in queries(manifests) if q.origin not in rule_queries]
    if other:
        groups.append(
            {
                "name": "dashboards-and-analysis",
                "rules": [
                    {"record": f"check:query_{i}", "expr": _fill_placeholders(q.expr)}
                    for i, q in enumerate(other)
                ],
            }
        )
    if not groups:
        return []
    with tempfile.TemporaryDirectory() as directory:
        rules_file = Path(directory) / "rules.yaml"
        rules_file.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        result = subprocess.run(
            [tool("promtool"), "check", "rules", str(rules_file)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    if result.returncode == 0:
        return []
    origins = {f"check:query_{i}": q.origin for i, q in enumerate(other)}
    output = result.stdout + result.stderr
    for record, origin in origins.items():
        output = output.replace(record, f"{record} ({origin})")
    return [line for line in output.splitlines() if line.strip() and "SUCCESS" not in line]
