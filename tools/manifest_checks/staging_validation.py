"""Staging validates each commit with that commit's deployed suite, against the hosts staging
serves, before anything is promoted. A schema sees none of it: the Job could run the wrong image,
test a hostname staging does not serve, or report a status no one waits for.

- The PostSync Job runs the test-runner image (tests/Dockerfile) and its runner script, with
  TARGET_URL and TARGET_LOG_URL the https hosts of staging's public VirtualServices.
- CI builds that image with the services' commit tag and points staging at it.
- The status the runner reports is the one the release workflow waits for (and
  workflows.release_order_problems checks that promotion waits for it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import yaml

from manifest_checks.render import REPO, Manifest, of_kind
from manifest_checks.workflows import GATES, RELEASE

JOB = "staging-validation"
IMAGE = "test-runner"
DOCKERFILE = "tests/Dockerfile"
RUNNER = REPO / "tests" / "deployed" / "validate_staging.py"
RUNNER_IN_IMAGE = "/suite/tests/deployed/validate_staging.py"
"""Where tests/Dockerfile puts the runner (COPY tests/deployed /suite/tests/deployed)."""
TARGETS = {"TARGET_URL": "svc-todo-public", "TARGET_LOG_URL": "svc-logoutput-public"}
"""The suite's target variables, each the host of one public VirtualService."""
CI = REPO / ".github" / "workflows" / "ci.yaml"


def _named(manifests: list[Manifest], kind: str, name: str) -> Manifest | None:
    return next((m for m in of_kind(manifests, kind) if m["metadata"]["name"] == name), None)


def job_problems(staging: list[Manifest]) -> list[str]:
    job = _named(staging, "Job", JOB)
    if job is None:
        return [f"staging has no Job {JOB}"]
    problems = []
    if job["metadata"].get("annotations", {}).get("argocd.argoproj.io/hook") != "PostSync":
        problems.append(f"Job {JOB} is not an ArgoCD PostSync hook")
    [container] = job["spec"]["template"]["spec"]["containers"]
    repository = str(container["image"]).rsplit(":", 1)[0]
    if not repository.endswith(f"/{IMAGE}"):
        problems.append(f"Job {JOB} runs {container['image']}, not the {IMAGE} image")
    if RUNNER_IN_IMAGE not in container.get("command", []):
        problems.append(f"Job {JOB} does not run {RUNNER_IN_IMAGE}")
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    for variable, virtual_service in TARGETS.items():
        routes = _named(staging, "VirtualService", virtual_service)
        hosts = routes["spec"]["hosts"] if routes else []
        if env.get(variable) not in {f"https://{host}" for host in hosts}:
            problems.append(
                f"Job {JOB}: {variable}={env.get(variable)!r} is not a host staging serves "
                f"({virtual_service}: {hosts})"
            )
    return problems


def ci_problems(ci: Path = CI) -> list[str]:
    jobs: dict[str, Any] = yaml.safe_load(ci.read_text())["jobs"]
    built = jobs.get("images", {}).get("strategy", {}).get("matrix", {}).get("image", [])
    steps = " ".join(str(s) for job in jobs.values() for s in job.get("steps", []))
    problems = []
    if IMAGE not in built or DOCKERFILE not in steps:
        problems.append(f"{ci.name} does not build the {IMAGE} image from {DOCKERFILE}")
    bumps = [str(s.get("run", "")) for s in jobs.get("bump-staging", {}).get("steps", [])]
    if not any("kustomize edit set image" in run and IMAGE in run for run in bumps):
        problems.append(f"{ci.name} does not point staging at the commit's {IMAGE} image")
    return problems


def status_problems(runner: Path = RUNNER, release: Path = RELEASE) -> list[str]:
    spec = importlib.util.spec_from_file_location("validate_staging", runner)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    waited_for = GATES["staging's validation of the commit"]
    if waited_for != module.STATUS_CONTEXT or waited_for not in release.read_text():
        return [
            f"{runner.name} reports {module.STATUS_CONTEXT!r}; {release.name} waits for "
            f"{waited_for!r}"
        ]
    return []


def validation_problems(staging: list[Manifest]) -> list[str]:
    return job_problems(staging) + ci_problems() + status_problems()
