"""The NATS server configurations: parsed by the real nats-server, with stand-in passwords."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from manifest_checks.render import REPO
from manifest_checks.tools import tool

NATS_DIR = REPO / "nats"
CONFIGS = (NATS_DIR / "single.conf", NATS_DIR / "cluster.conf")
_PASSWORD_VARIABLE = re.compile(r"password:\s*\$(NATS_\w+_PASSWORD)")


def password_variables(accounts: Path = NATS_DIR / "accounts.conf") -> dict[str, str]:
    """User name -> the environment variable holding its password, as accounts.conf says."""
    text = accounts.read_text()
    users = re.findall(r"user:\s*(\w+)\s*\n\s*password:\s*\$(NATS_\w+_PASSWORD)", text)
    if len(users) != len(_PASSWORD_VARIABLE.findall(text)):
        raise ValueError(f"{accounts}: every `password:` must follow its `user:` line")
    return dict(users)


def config_problems(config: Path, environment: dict[str, str] | None = None) -> list[str]:
    """`nats-server -t`: the file parses and every variable it names is set."""
    if environment is None:
        environment = {v: "check-only" for v in password_variables().values()}
        environment["POD_NAME"] = "nats-0"
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
