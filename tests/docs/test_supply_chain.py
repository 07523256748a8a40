"""The supply-chain automation is valid before GitHub ever reads it: every workflow and the
Dependabot configuration pass their published schemas (check-jsonschema's vendored copies,
offline), and Dependabot watches every place a version is pinned."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPENDABOT = REPO / ".github" / "dependabot.yml"
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))


def check_jsonschema(schema: str, *files: Path) -> subprocess.CompletedProcess[str]:
    command = Path(sys.executable).parent / "check-jsonschema"
    return subprocess.run(
        [str(command), "--builtin-schema", schema, *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def updates(ecosystem: str) -> list[dict[str, object]]:
    config = yaml.safe_load(DEPENDABOT.read_text())
    return [u for u in config["updates"] if u["package-ecosystem"] == ecosystem]


def test_every_workflow_passes_the_github_workflow_schema() -> None:
    names = {w.name for w in WORKFLOWS}
    assert {"ci.yaml", "release.yaml", "codeql.yaml", "docs.yaml"} <= names
    result = check_jsonschema("vendor.github-workflows", *WORKFLOWS)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dependabot_configuration_passes_its_schema() -> None:
    result = check_jsonschema("vendor.dependabot", DEPENDABOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_dependabot_configuration_with_an_unknown_ecosystem_is_rejected(tmp_path: Path) -> None:
    broken = tmp_path / "dependabot.yml"
    broken.write_text(
        "version: 2\nupdates:\n"
        "  - {package-ecosystem: pipx, directory: /, schedule: {interval: weekly}}\n"
    )
    result = check_jsonschema("vendor.dependabot", broken)
    assert result.returncode != 0


def test_dependabot_bumps_the_single_pin_list() -> None:
    (pip,) = updates("pip")
    assert pip["directory"] == "/"
    assert (REPO / "constraints.txt").exists()


@pytest.mark.parametrize("ecosystem", ["github-actions", "docker-compose"])
def test_dependabot_watches_the_workflows_and_compose(ecosystem: str) -> None:
    assert [u["directory"] for u in updates(ecosystem)] == ["/"]


def test_dependabot_watches_the_base_image_of_every_dockerfile() -> None:
    watched = {d for u in updates("docker") for d in u["directories"]}  # type: ignore[attr-defined]
    dockerfiles = {f"/{p.parent.relative_to(REPO)}" for p in REPO.glob("*/Dockerfile")}
    assert dockerfiles
    assert watched == dockerfiles
