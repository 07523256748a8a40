"""The release workflow promotes only what exists and what staging validated."""

from __future__ import annotations

from pathlib import Path

from manifest_checks import workflows

FIXTURES = Path(__file__).parent / "fixtures"


def test_the_release_waits_for_images_and_staging() -> None:
    assert workflows.release_order_problems() == []


def test_a_release_that_retags_at_once_is_caught() -> None:
    """The workflow as it once was: it retagged whatever the registry had at tag time."""
    problems = workflows.release_order_problems(FIXTURES / "release-unordered.yaml")
    assert (
        "release-unordered.yaml job promote: `imagetools create` can run before the "
        "commit's CI run (which pushes its images)"
    ) in problems
    assert any("staging's validation" in p for p in problems)
