"""The NATS server configurations: parsed by the real nats-server, with stand-in passwords."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable
from pathlib import Path

from manifest_checks.render import REPO
from manifest_checks.tools import tool

NATS_DIR = REPO / "nats"
CONFIGS = (NATS_DIR / "single.conf", NATS_DIR / "cluster.conf", NATS_DIR / "knative-leaf.conf")
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


def loopback_cluster(
    directory: Path, cluster_ports: list[int], leaf_ports: list[int]
) -> list[Path]:
    """cluster.conf for each node on 127.0.0.1. Only the cluster and leaf node ports, the routes,
    the pid file and the store change (client and monitor ports and the store go on the command
    line); everything else, users and permissions included, is the file Kubernetes runs. A
    rewrite that no longer applies fails rather than quietly testing something else."""
    text = (NATS_DIR / "cluster.conf").read_text()
    (directory / "accounts.conf").write_text((NATS_DIR / "accounts.conf").read_text())
    configs = []
    for node, port in enumerate(cluster_ports):
        rewrites: list[tuple[str, Callable[[re.Match[str]], str]]] = [
            (r"pid_file: /tmp/nats\.pid", lambda _, n=node: f"pid_file: {directory}/nats-{n}.pid"),
            (r"store_dir: /data/jetstream", lambda _: "# store_dir: on the command line"),
            (r"listen: 0\.0\.0\.0:6222", lambda _, p=port: f"listen: 127.0.0.1:{p}"),
            (r"listen: 0\.0\.0\.0:7422", lambda _, p=leaf_ports[node]: f"listen: 127.0.0.1:{p}"),
            (
                r"nats://nats-(\d+)\.nats-headless:6222",
                lambda route: f"nats://127.0.0.1:{cluster_ports[int(route[1])]}",
            ),
        ]
        config = text
        for pattern, replacement in rewrites:
            config, count = re.subn(pattern, replacement, config)
            if count == 0:
                raise ValueError(f"cluster.conf no longer contains {pattern!r}")
        path = directory / f"nats-{node}.conf"
        path.write_text(config)
        configs.append(path)
    return configs
