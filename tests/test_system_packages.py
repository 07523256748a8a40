"""`tools/system_packages.sh`, the set-up step of `make test` and `.ci/run`: installs the Debian
packages the suite needs when it may, else says in one line exactly what to run.

Each case runs the script with a PATH of its own, where stand-ins play `id`, `sudo`, `apt-get`
and the programs looked for, so no package is really installed.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "tools/system_packages.sh"
PROGRAMS = ("chromium", "promtool", "pg_isready", "kubectl")


class Machine:
    """A PATH holding the shell tools the script uses, and whatever a case adds."""

    def __init__(self, directory: Path) -> None:
        self.bin = directory / "bin"
        self.bin.mkdir()
        self.calls = directory / "calls"
        for tool in ("env", "bash", "sed", "grep"):
            found = shutil.which(tool)
            assert found, tool
            (self.bin / tool).symlink_to(found)

    def add(self, name: str, script: str = "exit 0") -> None:
        path = self.bin / name
        path.write_text(f'#!/bin/sh\necho "{name} $*" >> {self.calls}\n{script}\n')
        path.chmod(0o755)

    def user(self, uid: int) -> None:
        (self.bin / "id").write_text(f"#!/bin/sh\necho {uid}\n")
        (self.bin / "id").chmod(0o755)

    def apt(self, *, without: str = "") -> None:
        self.add("apt-get")
        candidate = (
            f'[ "$2" = "{without}" ] && echo "  Candidate: (none)" || echo "  Candidate: 1.0"'
        )
        self.add("apt-cache", candidate)

    def run(self) -> subprocess.CompletedProcess[str]:
        env = {"PATH": str(self.bin), "TEST_DATABASE_URL": "postgresql://postgres@127.0.0.1/test"}
        return subprocess.run(
            [self.bin / "bash", SCRIPT], env=env, capture_output=True, text=True, timeout=30
        )

    def called(self) -> list[str]:
        return self.calls.read_text().splitlines() if self.calls.exists() else []


@pytest.fixture
def machine(tmp_path: Path) -> Machine:
    return Machine(tmp_path)


def test_nothing_happens_when_every_program_is_there(machine: Machine) -> None:
    machine.user(1000)
    for program in PROGRAMS:
        machine.add(program)

    result = machine.run()

    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_without_root_or_sudo_one_line_gives_the_exact_command(machine: Machine) -> None:
    machine.user(1000)
    machine.add("chromium")

    result = machine.run()

    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "The tests need Debian packages that are missing; install them, then rerun: "
        "sudo apt-get update && sudo apt-get install -y prometheus postgresql-client kubectl"
    ]


def test_as_root_the_missing_packages_are_installed(machine: Machine) -> None:
    machine.user(0)
    machine.apt()

    result = machine.run()

    assert result.returncode == 0, result.stderr
    installs = [call for call in machine.called() if call.startswith("apt-get")]
    assert installs == [
        "apt-get update -qq",
        "apt-get install -y -qq chromium prometheus postgresql-client kubectl",
    ]


def test_with_password_less_sudo_apt_get_runs_through_it(machine: Machine) -> None:
    machine.user(1000)
    machine.add("sudo", '[ "$2" = true ] && exit 0; shift; exec "$@"')  # sudo -n ...
    machine.apt()
    for program in ("chromium", "promtool", "kubectl"):
        machine.add(program)

    result = machine.run()

    assert result.returncode == 0, result.stderr
    assert (
        "sudo -n env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client"
        in (machine.called())
    )


def test_a_package_no_apt_source_offers_is_named_before_anything_is_installed(
    machine: Machine,
) -> None:
    machine.user(0)
    machine.apt(without="kubectl")

    result = machine.run()

    assert result.returncode == 1
    assert "No apt source offers kubectl" in result.stderr
    assert not [call for call in machine.called() if call.startswith("apt-get install")]
