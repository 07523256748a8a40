"""`docker compose up` checked offline (no Docker engine here): the compose file against the
Compose specification, every Dockerfile with hadolint and against the one shared pattern, the
environment against what each service reads, and the compose NATS setup (nats/single.conf users,
then `nats-provision`) against the real nats-server with the real services bound to it.
"""

from __future__ import annotations

import importlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import httpx
import msgspec
import pytest
import yaml

from shared_runtime.settings import ServiceSettings
from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import wait_until
from shared_testkit.ports import free_port
from svc_broadcaster.settings import BroadcasterSettings
from svc_greeter.settings import GreeterSettings
from svc_logoutput.settings import LogOutputSettings
from svc_pingpong.settings import PingpongSettings
from svc_todo.settings import TodoSettings
from svc_wikipedia.settings import WikipediaSettings

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COMPOSE_FILE = REPO / "compose.yaml"

# compose service -> (folder, settings, contract port, the contract's names it must be given)
APPS: dict[str, tuple[str, type[ServiceSettings], int, set[str]]] = {
    "todo": ("svc-todo", TodoSettings, 8000, {"DATABASE_URL", "NATS_URL"}),
    "broadcaster": (
        "svc-broadcaster",
        BroadcasterSettings,
        8001,
        {"NATS_URL", "WEBHOOK_FORMAT", "WEBHOOK_URL"},
    ),
    "wikipedia": (
        "svc-wikipedia",
        WikipediaSettings,
        8002,
        {"NATS_URL", "WIKIPEDIA_BASE_URL", "SUGGEST_EVERY_MINUTES"},
    ),
    # No GREETING: each version says its own, set once in svc_greeter/settings.py.
    "greeter-v1": ("svc-greeter", GreeterSettings, 8003, {"GREETER_VERSION"}),
    "greeter-v2": ("svc-greeter", GreeterSettings, 8004, {"GREETER_VERSION"}),
    "pingpong": ("svc-pingpong", PingpongSettings, 8005, {"DATABASE_URL"}),
    "logoutput": (
        "svc-logoutput",
        LogOutputSettings,
        8006,
        {"PINGPONG_URL", "GREETER_URL", "MESSAGE"},
    ),
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::([-?])([^}]*))?\}")


class MissingVariable(Exception):
    """What `docker compose` refuses to start with: a `${X:?message}` that is unset or empty."""


def resolved(value: object, variables: Mapping[str, str]) -> str:
    """A compose value as `docker compose` fills it from `variables` (the shell and `.env`):
    `${X:-default}`, `${X:?message}` and `${X}`."""

    def fill(match: re.Match[str]) -> str:
        name, operator, argument = match[1], match[2], match[3]
        value = variables.get(name, "")
        if operator == "?" and not value:
            raise MissingVariable(f"required variable {name} is missing a value: {argument}")
        return value or (argument if operator == "-" else "")

    return _VARIABLE.sub(fill, str(value))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return dict(yaml.safe_load(COMPOSE_FILE.read_text()))


def generate_env(env_file: Path) -> str:
    """Run the newcomer's one set-up step for compose; its output."""
    return subprocess.run(
        [sys.executable, REPO / "tools/compose_env.py", "--env-file", env_file],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout


def read_env(env_file: Path) -> dict[str, str]:
    return dict(line.split("=", 1) for line in env_file.read_text().splitlines())


@pytest.fixture(scope="module")
def dotenv(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The `.env` that `tools/compose_env.py` writes on first run."""
    env_file = tmp_path_factory.mktemp("compose") / ".env"
    generate_env(env_file)
    return read_env(env_file)


def environment(compose: dict[str, Any], service: str, dotenv: dict[str, str]) -> dict[str, str]:
    given = compose["services"][service]["environment"]
    return {k: resolved(v, dotenv) for k, v in given.items()}


def service_dockerfiles() -> list[Path]:
    return sorted(REPO.glob("svc-*/Dockerfile"))


def default_port(folder: str) -> int:
    """The port a service listens on unless PORT says otherwise, from its settings class."""
    module = importlib.import_module(f"{folder.replace('-', '_')}.settings")
    (port,) = {
        field.default
        for cls in vars(module).values()
        if isinstance(cls, type)
        and issubclass(cls, ServiceSettings)
        and cls.__module__ == module.__name__
        for field in msgspec.structs.fields(cls)
        if field.name == "port"
    }
    return int(port)


def test_compose_file_follows_the_compose_specification() -> None:
    result = subprocess.run(
        [BIN / "check-jsonschema", "--builtin-schema", "vendor.compose-spec", COMPOSE_FILE],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dockerfile_passes_hadolint() -> None:
    result = subprocess.run(
        [BIN / "hadolint", *service_dockerfiles()], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_service_has_a_dockerfile_of_the_one_shared_pattern() -> None:
    folders = sorted(p.name for p in REPO.glob("svc-*") if (p / "pyproject.toml").exists())
    assert [p.parent.name for p in service_dockerfiles()] == folders

    def pattern(dockerfile: Path) -> str:
        folder = dockerfile.parent.name
        port = str(default_port(folder))
        return dockerfile.read_text().replace(folder, "svc-NAME").replace(port, "PORT")

    patterns = {dockerfile.parent.name: pattern(dockerfile) for dockerfile in service_dockerfiles()}
    reference = patterns["svc-todo"]
    assert [name for name, text in patterns.items() if text != reference] == []
    assert "HEALTHCHECK" in reference
    assert re.search(r"^USER 10001:10001$", reference, re.MULTILINE)
    # the base image in FROM itself, pinned, where Dependabot can see it (not through an ARG)
    bases = re.findall(r"^FROM (\S+)", reference, re.MULTILINE)
    assert len(bases) == 2
    assert all(re.fullmatch(r"python:3\.11\.\d+-slim-bookworm", base) for base in bases)


def test_every_application_is_built_from_its_own_dockerfile_and_health_checked(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    for name, (folder, _, port, _) in APPS.items():
        service = services[name]
        assert service["build"] == {"context": ".", "dockerfile": f"{folder}/Dockerfile"}, name
        assert "healthcheck" not in service, f"{name}: the image's HEALTHCHECK is the one used"
        assert service["ports"] == [f"${{PUBLISH_ADDRESS:-127.0.0.1}}:{port}:{port}"], name
        assert service["read_only"] is True, name
    for name in ("postgres", "nats"):
        assert services[name]["healthcheck"]["test"], name
    assert set(services) == {*APPS, "postgres", "nats", "nats-provision"}


def test_every_application_gets_the_contract_names_and_only_names_it_reads(
    compose: dict[str, Any], dotenv: dict[str, str]
) -> None:
    for name, (_, settings, port, contract) in APPS.items():
        given = environment(compose, name, dotenv)
        known = {field.upper() for field in settings.__struct_fields__}
        assert set(given) - known == set(), f"{name} is given names it does not read"
        assert contract | {"PORT"} <= set(given), name
        assert given["PORT"] == str(port), name
        settings.from_environment(**{key.lower(): value for key, value in given.items()})


def test_applications_start_only_once_what_they_need_is_healthy(
    compose: dict[str, Any], dotenv: dict[str, str]
) -> None:
    services = compose["services"]
    for name in APPS:
        given = environment(compose, name, dotenv)
        needs = {
            dependency: condition["condition"]
            for dependency, condition in services[name].get("depends_on", {}).items()
        }
        if "NATS_URL" in given:
            assert needs["nats"] == "service_healthy", name
            assert needs["nats-provision"] == "service_completed_successfully", name
        if "DATABASE_URL" in given:
            assert needs["postgres"] == "service_healthy", name
    logoutput = services["logoutput"]["depends_on"]
    assert logoutput["pingpong"]["condition"] == logoutput["greeter-v1"]["condition"]


def test_postgres_and_nats_are_the_versions_kubernetes_runs(compose: dict[str, Any]) -> None:
    def kustomize_image(kustomization: Path) -> str:
        (image,) = yaml.safe_load(kustomization.read_text())["images"]
        return f"{image['newName']}:{image['newTag']}"

    services = compose["services"]
    assert services["nats"]["image"] == kustomize_image(REPO / "nats/kustomization.yaml")
    assert services["postgres"]["image"] == kustomize_image(
        REPO / "k8s/components/postgres/kustomization.yaml"
    )


def published(compose: dict[str, Any], variables: Mapping[str, str]) -> dict[str, list[str]]:
    return {
        name: [resolved(port, variables) for port in service["ports"]]
        for name, service in compose["services"].items()
        if "ports" in service
    }


def test_ports_are_published_on_loopback_unless_asked_otherwise(compose: dict[str, Any]) -> None:
    nobody_set_anything = published(compose, {})
    assert set(nobody_set_anything) == {*APPS, "nats"}
    for name, ports in nobody_set_anything.items():
        assert [p.split(":")[0] for p in ports] == ["127.0.0.1"], name
    opened = published(compose, {"PUBLISH_ADDRESS": "0.0.0.0"})
    assert opened["nats"] == ["0.0.0.0:4222:4222"]


def password_references(compose_text: str) -> list[tuple[str, str]]:
    """Every `${NAME...}` in compose.yaml whose name says it holds a password: (name, how)."""
    return re.findall(r"\$\{(\w*PASSWORD\w*)([^}]*)\}", compose_text)


def test_no_password_has_a_default_and_compose_refuses_to_start_without_one(
    compose: dict[str, Any],
) -> None:
    references = password_references(COMPOSE_FILE.read_text())
    assert references, "compose.yaml names no password"
    assert [name for name, how in references if not how.startswith(":?")] == []
    for service in ("postgres", "nats", "nats-provision", "todo", "pingpong"):
        with pytest.raises(MissingVariable, match=r"run python3 tools/compose_env\.py"):
            environment(compose, service, {})


def test_compose_env_writes_a_random_password_for_each_once(tmp_path: Path) -> None:
    needed = {name for name, _ in password_references(COMPOSE_FILE.read_text())}
    env_file = tmp_path / ".env"

    said = generate_env(env_file)
    first = read_env(env_file)
    said_again = generate_env(env_file)

    assert set(first) == needed == {*_account_passwords().values(), "POSTGRES_PASSWORD"}
    assert all(re.fullmatch(r"[A-Za-z]{32}", password) for password in first.values())
    assert len(set(first.values())) == len(first)
    assert env_file.stat().st_mode & 0o777 == 0o600
    assert read_env(env_file) == first, "a second run must keep the passwords"
    assert "every password is already set" in said_again
    assert not any(password in said + said_again for password in first.values())
    other = tmp_path / "other.env"
    generate_env(other)
    assert set(read_env(other).values()).isdisjoint(first.values())


def test_compose_env_fills_in_only_what_is_missing(tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("LOG_LEVEL=DEBUG\nPOSTGRES_PASSWORD=chosen-by-me")

    generate_env(env_file)
    written = read_env(env_file)

    assert written["LOG_LEVEL"] == "DEBUG"
    assert written["POSTGRES_PASSWORD"] == "chosen-by-me"
    assert written["NATS_TODO_PASSWORD"]


def test_the_generated_env_file_stays_out_of_git() -> None:
    result = subprocess.run(
        ["git", "check-ignore", "--no-index", "--quiet", ".env"], cwd=REPO, check=False
    )
    assert result.returncode == 0, ".env must be gitignored: it holds the compose passwords"


def _account_passwords() -> dict[str, str]:
    """NATS user -> the variable holding its password, from nats/accounts.conf."""
    text = (REPO / "nats/accounts.conf").read_text()
    return dict(re.findall(r"user:\s*(\w+)\s*\n\s*password:\s*\$(NATS_\w+_PASSWORD)", text))


def test_nats_gets_every_password_and_each_client_its_own_user(
    compose: dict[str, Any], dotenv: dict[str, str]
) -> None:
    variables = _account_passwords()
    assert set(environment(compose, "nats", dotenv)) == set(variables.values())
    clients = {n: s["environment"] for n, s in compose["services"].items() if n in APPS}
    clients = {n: env for n, env in clients.items() if "NATS_URL" in env}
    assert set(clients) == {"todo", "broadcaster", "wikipedia"}
    clients["nats-provision"] = compose["services"]["nats-provision"]["environment"]
    for name, given in clients.items():
        password_variable = variables[given["NATS_USER"]]
        assert given["NATS_PASSWORD"].startswith(f"${{{password_variable}:?"), name
        assert given.get("DECLARE_STREAMS") == ("false" if name in APPS else None), name


@pytest.fixture
def compose_nats(
    compose: dict[str, Any],
    dotenv: dict[str, str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[NatsServer]:
    """nats-server as compose runs it: nats/single.conf with the generated passwords."""
    for variable, password in environment(compose, "nats", dotenv).items():
        monkeypatch.setenv(variable, password)
    server = NatsServer(tmp_path / "jetstream", config_file=REPO / "nats/single.conf")
    server.start()
    yield server
    server.stop(kill=True)


def provision(compose: dict[str, Any], dotenv: dict[str, str], nats_url: str) -> None:
    env = {**environment(compose, "nats-provision", dotenv), "NATS_URL": nats_url}
    assert compose["services"]["nats-provision"]["command"][-1] == "/provision/jetstream"
    subprocess.run(
        [sys.executable, REPO / "nats/provision.py", REPO / "nats/jetstream"],
        env={"PATH": os.environ.get("PATH", ""), **env},
        check=True,
        timeout=30,
    )


@pytest.mark.integration
@pytest.mark.parametrize(
    "name",
    [
        "todo",
        "broadcaster",
        "wikipedia",
    ],
)
def test_after_nats_provision_a_service_binds_as_its_own_user(
    name: str,
    compose: dict[str, Any],
    dotenv: dict[str, str],
    compose_nats: NatsServer,
    database_url: str,
    tmp_path: Path,
) -> None:
    provision(compose, dotenv, compose_nats.url)
    provision(compose, dotenv, compose_nats.url)  # a second `docker compose up` provisions again
    overrides = {
        "NATS_URL": compose_nats.url,
        "DATA_DIR": str(tmp_path / "data"),
        "IMAGE_SOURCE_URL": "http://127.0.0.1:9/no-outside-calls",
        "SUGGEST_EVERY_MINUTES": "0",
    }
    if "DATABASE_URL" in environment(compose, name, dotenv):
        overrides["DATABASE_URL"] = database_url
    port = free_port()
    env = {**environment(compose, name, dotenv), **overrides, "PORT": str(port)}
    log = tmp_path / f"{name}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [BIN / APPS[name][0]],
            env={"PATH": os.environ.get("PATH", ""), **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        outcome = wait_until(
            lambda: ready_or_exited(process, f"http://127.0.0.1:{port}/readyz"),
            timeout=20,
            message=f"{name} ready",
        )
        assert outcome == "ready", log.read_text()[-3000:]
    finally:
        process.kill()
        process.wait()


def ready_or_exited(process: subprocess.Popen[bytes], url: str) -> str | None:
    if process.poll() is not None:
        return f"exited with {process.returncode}"
    return "ready" if httpx.get(url, timeout=1).status_code == 200 else None
