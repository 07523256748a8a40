"""Rendering: every kustomization of the repository, built the way ArgoCD builds it."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from manifest_checks.tools import tool

REPO = Path(__file__).resolve().parents[2]
MANIFEST_ROOTS = (
    "k8s",
    "nats",
    "istio",
    "knative",
    "monitoring",
    "gitops",
    "svc-dummysite/manifests",
)
DEPLOYABLE = (
    "k8s/overlays/staging",
    "k8s/overlays/production",
    "k8s/examples/wikipedia-page",
    "svc-dummysite/manifests",
)
"""What is applied to a cluster as a whole: the policy holds for each of these renderings."""
ENVIRONMENTS = ("k8s/overlays/staging", "k8s/overlays/production")
"""The environments ArgoCD deploys: each a namespace of its own, in the mesh."""

Manifest = dict[str, Any]


class RenderError(RuntimeError):
    """kustomize refused to build a directory."""


def kustomizations(repo: Path = REPO) -> list[Path]:
    """Every buildable kustomization (Components are built only as part of an overlay)."""
    found = []
    for root in MANIFEST_ROOTS:
        for file in sorted((repo / root).rglob("kustomization.yaml")):
            if yaml.safe_load(file.read_text()).get("kind") != "Component":
                found.append(file.parent)
    return found


def build(directory: Path) -> list[Manifest]:
    """`kubectl kustomize DIR`: the documents ArgoCD would apply."""
    result = subprocess.run(
        [tool("kubectl"), "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RenderError(f"{directory}: kustomize failed: {result.stderr.strip()}")
    return documents(result.stdout)


def documents(text: str) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def load_files(paths: Iterable[Path]) -> list[Manifest]:
    return [doc for path in paths for doc in documents(path.read_text())]


def name_of(manifest: Manifest) -> str:
    """`Kind/namespace/name`, how problems point at an object."""
    metadata = manifest.get("metadata", {})
    namespace = metadata.get("namespace", "-")
    return f"{manifest.get('kind')}/{namespace}/{metadata.get('name')}"


def of_kind(manifests: Iterable[Manifest], *kinds: str) -> Iterator[Manifest]:
    return (m for m in manifests if m.get("kind") in kinds)
