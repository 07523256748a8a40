"""The release workflow's order: nothing reaches production before the tagged commit's images
exist and staging has validated that commit. A schema cannot see an order of jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from manifest_checks.render import REPO

RELEASE = REPO / ".github" / "workflows" / "release.yaml"

GATES = {
    "the commit's CI run (which pushes its images)": "--workflow ci.yaml",
    "the commit's images": "imagetools inspect",
    "staging's validation of the commit": "staging/validation",
}
"""What must have happened, and the text of the step that waits for it."""

PROMOTIONS = ("imagetools create", "kustomize edit set image")
"""Steps that move a version towards production."""


def _needs(jobs: dict[str, Any], name: str) -> set[str]:
    """Every job `name` waits for, directly or not."""
    direct = jobs[name].get("needs", [])
    direct = [direct] if isinstance(direct, str) else direct
    found = set(direct)
    for job in direct:
        found |= _needs(jobs, job)
    return found


def _runs(job: dict[str, Any]) -> list[str]:
    return [str(step.get("run", "")) for step in job.get("steps", [])]


def release_order_problems(path: Path = RELEASE) -> list[str]:
    jobs: dict[str, Any] = yaml.safe_load(path.read_text())["jobs"]
    problems = []
    for name, job in jobs.items():
        runs = _runs(job)
        for index, run in enumerate(runs):
            promotion = next((p for p in PROMOTIONS if p in run), None)
            if promotion is None:
                continue
            before = [r for needed in _needs(jobs, name) for r in _runs(jobs[needed])]
            before += runs[:index]
            for gate, text in GATES.items():
                if not any(text in r for r in before):
                    problems.append(f"{path.name} job {name}: `{promotion}` can run before {gate}")
    return problems
