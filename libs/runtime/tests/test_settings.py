"""Settings come from the environment once, typed and checked, and a bad one is named without
its value; `--help` lists every variable with its default, choices and description."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import pytest
from msgspec import Meta

from shared_runtime.cli import environment_help, settings_from_environment
from shared_runtime.settings import InvalidSettings, NatsSettings, Secret, ServiceSettings

PASSWORD = "correct-horse-battery-staple"


class ExampleSettings(NatsSettings, frozen=True):
    mode: Annotated[Literal["fast", "safe"], Meta(description="How careful to be.")] = "safe"
    label: Annotated[str, Meta(min_length=1, description="Shown on the page.")] | None = None
    workers: Annotated[int, Meta(ge=1)] = 4


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ExampleSettings.__struct_fields__:
        monkeypatch.delenv(name.upper(), raising=False)


def test_each_field_is_read_from_its_upper_case_variable_as_its_type(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("DATA_DIR", "/srv/data")
    monkeypatch.setenv("NATS_CREDS", "/run/secrets/service.creds")
    monkeypatch.setenv("DECLARE_STREAMS", "false")
    monkeypatch.setenv("HTTP_HEADER_TIMEOUT_SECONDS", "2.5")
    monkeypatch.setenv("MODE", "fast")
    monkeypatch.setenv("UNRELATED_TO_ANY_FIELD", "ignored")

    settings = ExampleSettings.from_environment()

    assert settings.port == 9000
    assert settings.data_dir == Path("/srv/data")
    assert settings.nats_creds == Path("/run/secrets/service.creds")
    assert settings.declare_streams is False
    assert settings.http_header_timeout_seconds == 2.5
    assert settings.mode == "fast"
    assert settings.workers == 4


def test_an_override_wins_over_the_environment_and_is_checked_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PORT", "9000")
    monkeypatch.setenv("NATS_USER", "from-environment")

    settings = ExampleSettings.from_environment(
        port="9100", nats_user=None, nats_password=Secret(PASSWORD), not_a_field=1
    )

    assert (settings.port, settings.nats_user, settings.nats_password) == (
        9100,
        None,
        Secret(PASSWORD),
    )
    with pytest.raises(InvalidSettings, match=r"^WORKERS: Expected `int` >= 1$"):
        ExampleSettings.from_environment(workers=0)


def test_constructing_directly_reads_no_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PORT", "9000")

    assert ExampleSettings(workers=2).port == 8000


@pytest.mark.parametrize(
    ("text", "expected"),
    [("true", True), ("FALSE", False), ("1", True), ("0", False), (" yes ", True), ("off", False)],
)
def test_booleans_are_read_in_every_usual_spelling(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: bool
) -> None:
    monkeypatch.setenv("DECLARE_STREAMS", text)

    assert ExampleSettings.from_environment().declare_streams is expected


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("PORT", "65536", "PORT: Expected `int` <= 65535"),
        ("PORT", "eighty", "PORT: Expected `int`, got `str`"),
        ("HTTP_HEADER_TIMEOUT_SECONDS", "0", "HTTP_HEADER_TIMEOUT_SECONDS: Expected `float` > 0.0"),
        ("DECLARE_STREAMS", "maybe", "DECLARE_STREAMS: Expected `bool`, got `str`"),
        ("LABEL", "", "LABEL: Expected `str` of length >= 1"),
    ],
)
def test_an_unusable_value_is_refused_naming_its_variable_and_the_problem(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, problem: str
) -> None:
    monkeypatch.setenv(variable, value)

    with pytest.raises(InvalidSettings) as refused:
        ExampleSettings.from_environment()

    assert str(refused.value) == problem


def test_a_command_ends_with_one_line_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORKERS", "-3")

    with pytest.raises(SystemExit) as ended:
        settings_from_environment("svc-example", ExampleSettings)

    assert ended.value.code == "svc-example: invalid configuration: WORKERS: Expected `int` >= 1"


def test_a_secret_is_readable_but_never_shown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_PASSWORD", PASSWORD)

    settings = ExampleSettings.from_environment()

    assert settings.nats_password is not None
    assert settings.nats_password.get_secret_value() == PASSWORD
    assert PASSWORD not in repr(settings)
    assert PASSWORD not in str(settings.nats_password)
    assert not Secret("")  # an empty secret counts as unset, like an empty string


def test_a_secret_never_appears_in_a_refusal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_PASSWORD", PASSWORD)
    monkeypatch.setenv("PORT", PASSWORD)

    with pytest.raises(InvalidSettings) as refused:
        ExampleSettings.from_environment()
    with pytest.raises(InvalidSettings) as wrong_type:
        ExampleSettings.from_environment(port=8000, nats_password=12345)

    assert PASSWORD not in str(refused.value)
    assert str(wrong_type.value) == "NATS_PASSWORD: Expected `str`, got `int`"


def test_help_lists_each_variable_with_its_default_choices_and_description() -> None:
    shared = environment_help(ServiceSettings).splitlines()[1:]

    assert environment_help(ExampleSettings).splitlines() == [
        "environment variables:",
        *shared,
        "  NATS_URL (default: nats://127.0.0.1:4222)",
        "  NATS_USER (default: unset)",
        "  NATS_PASSWORD (default: unset)",
        "  NATS_CREDS (default: unset)",
        "  DECLARE_STREAMS (default: true)",
        "      Locally services declare their streams; in Kubernetes NACK resources do.",
        "  MODE (default: safe) (one of: fast, safe)",
        "      How careful to be.",
        "  LABEL (default: unset)",
        "      Shown on the page.",
        "  WORKERS (default: 4)",
    ]
    assert shared[:3] == [
        "  PORT (default: 8000)",
        "  LOG_LEVEL (default: INFO)",
        "  DATA_DIR (default: .data)",
    ]
