"""The NATS server configurations: parsed by the real nats-server, with stand-in passwords."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from manifest_checks.render import REPO
from manifest_checks.tools import tool
from shared_testkit import nats_cluster

NATS_DIR = REPO / "nats"
CONFIGS = (NATS_DIR / "single.conf", NATS_DIR / "cluster.conf", NATS_DIR / "knative-leaf.conf")


def password_variables() -> dict[str, str]:
    """User name -> the environment variable holding its password, as accounts.conf says."""
    return nats_cluster.password_variables(NATS_DIR / "accounts.conf")


def config_problems(config: Path, environment: dict[str, str] | None = None) -> list[str]:
    """`nats-server -t`: the file parses and every variable it names is set."""
    if environment is None:
        environment = {v: "check-only" for v in password_variables().values()}
        environment["POD_NAME"] = "nats-0"
        environment["NATS_KNATIVE_LEAF_URL"] = "nats://knative:check-only@nats:7422"
    result = subprocess.run(
        [tool("nats-server"), "-t", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
        env={"PATH": os.environ.get("PATH", ""), **environment},
        cwd=config.parent,
        check=False,
    )
    if result.returncode == 0:
        return []
    return [f"{config.relative_to(REPO)}: {(result.stderr or result.stdout).strip()}"]
