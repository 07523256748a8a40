"""The manifest checks live in tools/manifest_checks (the `make check-manifests` script uses them
too): this puts tools/ on the import path for the tests here, and renders every kustomization
once for all of them."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

from manifest_checks import render  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[render.Manifest]]:
    """Every kustomization of the repository, built once: relative path -> documents."""
    return {
        str(directory.relative_to(REPO)): render.build(directory)
        for directory in render.kustomizations()
    }


@pytest.fixture(scope="session")
def broken() -> list[render.Manifest]:
    """Objects that break every policy rule, each in a way the tests name."""
    return render.load_files([FIXTURES / "broken.yaml"])
