"""Every console command answers `--help` and `--version` and does nothing else: no database file,
no migration, no server, no request to any dependency; and refuses a configuration it cannot use
in one line."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import pytest

from shared_testkit.fake_http import FakeHttpServer, Reply, fake_http
from svc_dummysite.kubernetes import SERVICE_ACCOUNT

BIN = Path(sys.executable).parent
COMMANDS = [
    "svc-todo",
    "svc-broadcaster",
    "svc-wikipedia",
    "svc-greeter",
    "svc-pingpong",
    "svc-logoutput",
    "svc-dummysite",
]


@pytest.fixture
def anything_http() -> Iterator[FakeHttpServer]:
    """Stands in for every HTTP dependency; it must never be asked anything."""
    with fake_http(lambda request: Reply(200)) as server:
        yield server


@pytest.fixture
def nats_listener() -> Iterator[socket.socket]:
    """A port where NATS would be; a command that connects leaves a pending connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setblocking(False)
        yield listener


def run(
    command: str, argument: str, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / command), argument],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,  # a command that started serving instead would never return
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_help_and_version_answer_without_side_effects(
    command: str,
    tmp_path: Path,
    anything_http: FakeHttpServer,
    nats_listener: socket.socket,
) -> None:
    data_dir = tmp_path / "data"
    environment = {
        "PATH": os.environ["PATH"],
        "DATA_DIR": str(data_dir),
        "NATS_URL": f"nats://127.0.0.1:{nats_listener.getsockname()[1]}",
        **{
            name: anything_http.url
            for name in ("IMAGE_SOURCE_URL", "WIKIPEDIA_BASE_URL", "PINGPONG_URL", "GREETER_URL")
        },
    }

    shown = run(command, "--version", environment)
    helped = run(command, "--help", environment)

    assert (shown.returncode, shown.stdout) == (0, f"{command} {version(command)}\n")
    assert helped.returncode == 0, helped.stderr
    assert helped.stdout.startswith(f"usage: {command}")
    assert "environment variables:" in helped.stdout
    assert "\n  PORT (default: " in helped.stdout
    assert not data_dir.exists()
    assert anything_http.requests == []
    with pytest.raises(BlockingIOError):
        nats_listener.accept()


@pytest.mark.parametrize("command", COMMANDS)
def test_an_invalid_setting_ends_the_command_with_one_line_naming_it(
    command: str, tmp_path: Path
) -> None:
    environment = {
        "PATH": os.environ["PATH"],
        "DATA_DIR": str(tmp_path / "data"),
        "PORT": "eighty",
        "NATS_PASSWORD": "a secret, never in a message",
    }

    result = subprocess.run(
        [str(BIN / command)], env=environment, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    assert result.stderr == f"{command}: invalid configuration: PORT: Expected `int`, got `str`\n"
    assert not (tmp_path / "data").exists()


@pytest.mark.skipif(SERVICE_ACCOUNT.exists(), reason="runs inside a pod: credentials exist")
def test_dummysite_outside_a_cluster_says_in_one_line_what_it_needs() -> None:
    environment = {"PATH": os.environ["PATH"]}

    result = subprocess.run(
        [str(BIN / "svc-dummysite")], env=environment, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith("svc-dummysite: no Kubernetes credentials: ")
    assert f"token and ca.crt in {SERVICE_ACCOUNT}: not found" in line
    assert "kubeconfig" in line
    assert "KUBERNETES_API_URL=" in line
