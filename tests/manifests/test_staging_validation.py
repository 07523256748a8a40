"""The staging validation Job's script reads the dashboard as Grafana does, and the Job runs as
a PostSync hook of staging with what it needs."""

from __future__ import annotations

import importlib.util
import json
from types import ModuleType

from manifest_checks import metrics, render

Rendered = dict[str, list[render.Manifest]]
VALIDATION = render.REPO / "k8s" / "overlays" / "staging" / "validation"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("validate", VALIDATION / "validate_staging.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_dashboard_query_is_asked_with_its_variables_filled() -> None:
    script = _script()
    dashboard = json.loads(
        (render.REPO / "monitoring" / "dashboards" / "todo-platform.json").read_text()
    )
    asked = list(script.dashboard_queries(dashboard, "todo-staging"))
    panels = [q for q in metrics._dashboard_queries("d", dashboard) if "panel" in q.origin]
    assert len(asked) == len(panels)
    assert all("$" not in expr and 'namespace="todo-staging"' in expr for expr in asked)


def test_the_functions_allowed_to_sleep_are_on_the_dashboard() -> None:
    used = " ".join(
        _script().dashboard_queries(
            json.loads(
                (render.REPO / "monitoring" / "dashboards" / "todo-platform.json").read_text()
            ),
            "todo-staging",
        )
    )
    assert all(name in used for name in _script().SLEEPING_FUNCTION_METRICS)


def test_staging_runs_the_validation_after_each_sync(rendered: Rendered) -> None:
    [job] = [
        m
        for m in render.of_kind(rendered["k8s/overlays/staging"], "Job")
        if m["metadata"]["name"] == "staging-validation"
    ]
    assert job["metadata"]["annotations"]["argocd.argoproj.io/hook"] == "PostSync"
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith("ghcr.io/example-org/svc-todo:")
    assert not list(render.of_kind(rendered["k8s/overlays/production"], "Job"))
