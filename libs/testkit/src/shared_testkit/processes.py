"""A service's console command run as a real process on its own port, for multi-instance tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from shared_testkit.polling import wait_until
from shared_testkit.ports import free_port


def console_command(name: str) -> str:
    """The command installed beside this interpreter (the project's .venv), not one on PATH."""
    beside = Path(sys.executable).parent / name
    if not beside.exists():
        raise RuntimeError(f"{name} is not installed in {beside.parent}")
    return str(beside)


class ServiceProcess:
    """Runs `command` with only PATH and the given environment, plus `PORT`; stdout to a file."""

    def __init__(self, command: str, env: Mapping[str, str], log_dir: Path) -> None:
        self.command = command
        self.port = free_port()
        self.env = {"PATH": os.environ.get("PATH", ""), **env, "PORT": str(self.port)}
        self.log_file = log_dir / f"{command}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, wait_for: str = "/healthz", timeout: float = 20.0) -> None:
        """Start and wait until `wait_for` answers 200 (`/readyz` to wait for dependencies)."""
        with self.log_file.open("ab") as log:
            self.process = subprocess.Popen(
                [console_command(self.command)], env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        wait_until(
            lambda: self._answers(wait_for),
            timeout=timeout,
            message=f"{self.command} on {self.port} answering {wait_for}",
        )

    def _answers(self, path: str) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.command} exited with {self.process.returncode}: {self.logs()}"
            )
        return httpx.get(self.url + path, timeout=1.0).status_code == 200

    def logs(self) -> str:
        return self.log_file.read_text() if self.log_file.exists() else ""

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
