"""Staging validates each commit with the deployed suite of that commit, against the hosts staging
serves, and reports the status the release waits for; its monitoring check reads the dashboard
as Grafana does."""

from __future__ import annotations

import copy
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import yaml
from manifest_checks import metrics, render, staging_validation

Rendered = dict[str, list[render.Manifest]]
DASHBOARD = render.REPO / "monitoring" / "dashboards" / "todo-platform.json"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("validate", staging_validation.RUNNER)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_dashboard_query_is_asked_with_its_variables_filled() -> None:
    script = _script()
    dashboard = json.loads(DASHBOARD.read_text())
    asked = list(script.dashboard_queries(dashboard, "todo-staging"))
    panels = [q for q in metrics._dashboard_queries("d", dashboard) if "panel" in q.origin]
    assert len(asked) == len(panels)
    assert all("$" not in expr and 'namespace="todo-staging"' in expr for expr in asked)


def test_the_functions_allowed_to_sleep_are_on_the_dashboard() -> None:
    script = _script()
    used = " ".join(script.dashboard_queries(json.loads(DASHBOARD.read_text()), "todo-staging"))
    assert all(name in used for name in script.SLEEPING_FUNCTION_METRICS)


def test_staging_runs_the_commits_suite_against_its_own_hosts(rendered: Rendered) -> None:
    staging = rendered["k8s/overlays/staging"]
    assert staging_validation.validation_problems(staging) == []
    [job] = [m for m in render.of_kind(staging, "Job")]
    [container] = job["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["image"].startswith("ghcr.io/example-org/test-runner:")
    assert env["TARGET_URL"] == "https://staging.example.org"
    assert env["TARGET_LOG_URL"] == "https://log.staging.example.org"
    assert not list(render.of_kind(rendered["k8s/overlays/production"], "Job"))


def _job_container(manifests: list[render.Manifest]) -> dict[str, object]:
    [job] = [m for m in render.of_kind(manifests, "Job")]
    [container] = job["spec"]["template"]["spec"]["containers"]
    return container  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        pytest.param(
            {"image": "ghcr.io/example-org/svc-todo:0.1.0"},
            "runs ghcr.io/example-org/svc-todo:0.1.0, not the test-runner image",
            id="the smoke script's old image",
        ),
        pytest.param(
            {"command": ["python", "/validation/validate_staging.py"]},
            "does not run /suite/tests/deployed/validate_staging.py",
            id="another script",
        ),
        pytest.param(
            {"env": [{"name": "TARGET_URL", "value": "https://todo.example.org"}]},
            "TARGET_URL='https://todo.example.org' is not a host staging serves",
            id="production's host",
        ),
    ],
)
def test_a_validation_job_that_tests_something_else_is_caught(
    rendered: Rendered, change: dict[str, object], problem: str
) -> None:
    staging = copy.deepcopy(rendered["k8s/overlays/staging"])
    _job_container(staging).update(change)

    problems = staging_validation.job_problems(staging)

    assert any(problem in p for p in problems), problems


def test_a_ci_that_never_builds_the_test_runner_is_caught(tmp_path: Path) -> None:
    ci = yaml.safe_load(staging_validation.CI.read_text())
    ci["jobs"]["images"]["strategy"]["matrix"]["image"].remove("test-runner")
    for step in ci["jobs"]["bump-staging"]["steps"]:
        if "run" in step:
            step["run"] = step["run"].replace(" test-runner", "")
    broken = tmp_path / "ci.yaml"
    broken.write_text(yaml.safe_dump(ci))

    assert staging_validation.ci_problems(broken) == [
        "ci.yaml does not build the test-runner image from tests/Dockerfile",
        "ci.yaml does not point staging at the commit's test-runner image",
    ]


def test_a_status_no_release_waits_for_is_caught(tmp_path: Path) -> None:
    runner = tmp_path / "validate_staging.py"
    runner.write_text(
        staging_validation.RUNNER.read_text().replace(
            'STATUS_CONTEXT = "staging/validation"', 'STATUS_CONTEXT = "staging/smoke"'
        )
    )

    assert staging_validation.status_problems(runner) == [
        "validate_staging.py reports 'staging/smoke'; release.yaml waits for 'staging/validation'"
    ]


def test_the_test_runner_image_is_linted_non_root_pinned_and_holds_the_runner() -> None:
    dockerfile = render.REPO / staging_validation.DOCKERFILE
    services = (render.REPO / "svc-todo" / "Dockerfile").read_text()
    text = dockerfile.read_text()
    linted = subprocess.run(
        [Path(sys.executable).parent / "hadolint", dockerfile],
        capture_output=True,
        text=True,
        check=False,
    )

    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert re.findall(r"^FROM (\S+)", text, re.MULTILINE) == re.findall(
        r"^FROM (\S+)", services, re.MULTILINE
    ), "the services' base image, so Dependabot moves them together"
    assert "PIP_CONSTRAINT=/src/constraints.txt" in text
    assert re.search(r"^USER 10001:10001$", text, re.MULTILINE)
    assert "COPY tests/deployed /suite/tests/deployed" in text
    runner = staging_validation.RUNNER.relative_to(render.REPO)
    assert f"/suite/{runner}" == staging_validation.RUNNER_IN_IMAGE
