"""The configuration repository: the deployment folders of this repository, published on their
own so that ArgoCD follows a repository holding configuration only (docs/deploy.md).

    PYTHONPATH=tools python -m manifest_checks.config_repo EXPORT_DIR

copies CONFIG_FOLDERS and the CRD schemas into EXPORT_DIR (a checkout of the configuration
repository), replacing what was there, except each environment's `release/` component (image
tags, the commit staging runs), which CI writes in the configuration repository itself. A
release component missing there is taken from here once, so a first export is complete.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from manifest_checks.render import REPO

CONFIG_REPOSITORY = "https://github.com/example-org/todo-platform-config.git"
"""Where ArgoCD reads the configuration (gitops/)."""

CONFIG_FOLDERS = ("k8s", "knative", "istio", "nats", "gitops", "monitoring", "schemas/crds")
RELEASES = tuple(f"k8s/overlays/{env}/release" for env in ("staging", "production"))
"""Owned by the configuration repository once it exists."""

README = """# todo-platform configuration

Kubernetes configuration of the todo platform, exported from the application repository's
{folders} on every change there (its `config-repo` workflow). Edit it there, not here; only
`k8s/overlays/*/release/` (image tags and the commit staging runs) is written here, by the
application repository's CI and release workflows. ArgoCD deploys from this repository.
"""


def export(destination: Path, source: Path = REPO) -> list[str]:
    """Write the configuration into `destination`; returns the folders copied."""
    saved = {
        release: (destination / release / "kustomization.yaml").read_text()
        for release in RELEASES
        if (destination / release / "kustomization.yaml").exists()
    }
    for folder in CONFIG_FOLDERS:
        target = destination / folder
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(
            source / folder,
            target,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"),
        )
    for release, text in saved.items():
        (destination / release / "kustomization.yaml").write_text(text)
    (destination / "README.md").write_text(
        README.format(folders=", ".join(f"`{f}/`" for f in CONFIG_FOLDERS))
    )
    return list(CONFIG_FOLDERS)


if __name__ == "__main__":
    for folder in export(Path(sys.argv[1])):
        print(f"exported {folder}/")
