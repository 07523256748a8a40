"""PostgreSQL for integration tests: one fresh database per test on a server we can reach.

Providers, in order: a testcontainers container when a Docker engine answers (see `containers`),
`TEST_DATABASE_URL`, or a throwaway cluster made with `initdb`/`pg_ctl` when they are on PATH or
in Debian's `/usr/lib/postgresql/<version>/bin` (the `postgresql` package keeps them off PATH).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from shared_testkit.ports import free_port


class ThrowawayCluster:
    """A private PostgreSQL cluster in a temporary directory, removed on stop."""

    def __init__(self) -> None:
        self.directory = Path(tempfile.mkdtemp(prefix="pg-test-"))
        self.port = free_port()
        self.initdb = _program("initdb") or "initdb"
        self.pg_ctl = _program("pg_ctl") or "pg_ctl"

    @staticmethod
    def available() -> bool:
        return bool(_program("initdb") and _program("pg_ctl"))

    @property
    def admin_url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> str:
        data = self.directory / "data"
        run_as = _unprivileged_prefix(self.directory)
        subprocess.run(
            [*run_as, self.initdb, "-D", str(data), "-U", "postgres", "-A", "trust"],
            check=True,
            capture_output=True,
        )
        self._pg_ctl("start")
        return self.admin_url

    def restart(self) -> None:
        """A fast restart, as an operator or a failover would: open connections are cut."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "fast", check=False)
        shutil.rmtree(self.directory, ignore_errors=True)

    def _pg_ctl(self, action: str, *options: str, check: bool = True) -> None:
        subprocess.run(
            [
                *_unprivileged_prefix(self.directory),
                self.pg_ctl,
                "-D",
                str(self.directory / "data"),
                "-w",
                "-l",
                str(self.directory / "log"),
                "-o",
                f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1",
                action,
                *options,
            ],
            check=check,
            capture_output=True,
        )


def _program(name: str) -> str | None:
    """`name` on PATH, else from the newest PostgreSQL Debian installed."""
    if found := shutil.which(name):
        return found
    installed = Path("/usr/lib/postgresql").glob(f"*/bin/{name}")
    newest = max(installed, key=lambda path: int(path.parts[-3]), default=None)
    return None if newest is None else str(newest)


def _unprivileged_prefix(directory: Path) -> list[str]:
    """initdb refuses to run as root; run it as the `postgres` user when we are root."""
    if os.geteuid() != 0:
        return []
    shutil.chown(directory, "postgres")
    return ["runuser", "-u", "postgres", "--"]


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def create_database(admin_url: str) -> str:
    name = f"t_{uuid.uuid4().hex[:16]}"
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return with_database(admin_url, name)


async def drop_database(admin_url: str, database_url: str) -> None:
    name = urlsplit(database_url).path.lstrip("/")
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
