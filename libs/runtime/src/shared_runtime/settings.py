"""Typed settings, read from the environment once, at the edge (the console command).

msgspec Structs rather than pydantic models: the same checks (types, bounds, choices) without
pydantic's import and model building, about 75 ms of CPU and 11 MiB of every process start.
"""

from __future__ import annotations

import os
import re
import types
from pathlib import Path
from typing import Annotated, Any, Self, Union, get_args, get_origin

import msgspec

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]

_BOOLEAN_WORDS = dict.fromkeys(("yes", "y", "on", "t"), "true") | dict.fromkeys(
    ("no", "n", "off", "f"), "false"
)
"""The spellings of true and false pydantic read (and so these settings always have) that msgspec
does not; "true", "false", "1", "0" in any case it reads itself."""
_LOCATED = re.compile(r"^(?P<problem>.*) - at `\$\.(?P<field>\w+)`$", re.DOTALL)


class Secret:
    """A string that stays out of reprs, logs and error messages: `.get_secret_value()` reads it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get_secret_value(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    def __str__(self) -> str:
        return "**********"

    def __len__(self) -> int:  # an empty secret is falsy, like an empty string
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


class InvalidSettings(ValueError):
    """The environment (or an override) gives a setting that cannot be used. The message names
    the environment variable and the problem, never a secret's value."""


class ServiceSettings(msgspec.Struct, frozen=True):
    """The contract's shared environment names; each service extends this with its own.

    `from_environment()` reads each field from the environment variable of the same name in
    upper case (`port` from `PORT`) and validates them all; constructing a class directly (tests)
    takes the values as given, without reading the environment or checking types and bounds.
    """

    port: Port = 8000
    log_level: str = "INFO"
    data_dir: Path = Path(".data")
    otel_exporter_otlp_endpoint: str | None = None
    otel_service_name: str | None = None
    http_header_timeout_seconds: Annotated[
        float,
        msgspec.Meta(
            gt=0,
            description="A request's headers must arrive within this, or the connection is "
            "closed (half-sent headers would otherwise hold it forever).",
        ),
    ] = 10.0

    @classmethod
    def from_environment(cls, **overrides: Any) -> Self:
        """The settings from the environment, `overrides` (by field name) taking precedence;
        text becomes numbers, booleans and paths, and every constraint is checked.

        Raises InvalidSettings naming the first unusable variable. Names the class does not
        know, in the environment or the overrides, are ignored."""
        values: dict[str, Any] = {}
        for field in msgspec.structs.fields(cls):
            given = overrides.get(field.name, os.environ.get(field.name.upper()))
            if isinstance(given, str):
                given = _lenient(given, field.type)
            if given is not None or field.name in overrides:
                values[field.name] = given
        try:
            return msgspec.convert(values, cls, strict=False, dec_hook=_decode)
        except msgspec.ValidationError as error:
            raise InvalidSettings(_named(str(error))) from None


class NatsSettings(ServiceSettings, frozen=True):
    nats_url: str = "nats://127.0.0.1:4222"
    nats_user: str | None = None
    nats_password: Secret | None = None
    nats_creds: Path | None = None
    declare_streams: Annotated[
        bool,
        msgspec.Meta(
            description="Locally services declare their streams; in Kubernetes NACK resources do."
        ),
    ] = True


DatabaseUrl = Annotated[
    str | None,
    msgspec.Meta(description="postgres://…; unset means an SQLite file under DATA_DIR"),
]
"""A field of its own, as a Struct has one base: a service on NATS too declares it itself."""


class DatabaseSettings(ServiceSettings, frozen=True):
    database_url: DatabaseUrl = None


def _decode(expected: type, value: Any) -> Any:
    """The types msgspec does not build from text itself (and takes as they are, if given)."""
    if isinstance(value, expected):
        return value
    if expected is Path and isinstance(value, str | os.PathLike):
        return Path(value)
    if expected is Secret and isinstance(value, str):
        return Secret(value)
    # msgspec adds where; a secret's value is never part of the message
    raise TypeError(f"Expected `str`, got `{type(value).__name__}`")


def _lenient(text: str, annotation: Any) -> str:
    """Text for a number or boolean as pydantic read it: surrounding blanks dropped, and
    yes/no/on/off/y/n/t/f for booleans."""
    scalars = _scalar_types(annotation)
    if not scalars & {bool, int, float}:
        return text
    text = text.strip()
    if bool in scalars:
        return _BOOLEAN_WORDS.get(text.lower(), text)
    return text


def _scalar_types(annotation: Any) -> set[Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _scalar_types(get_args(annotation)[0])
    if origin is Union or origin is types.UnionType:
        return {scalar for arg in get_args(annotation) for scalar in _scalar_types(arg)}
    return {annotation}


def _named(message: str) -> str:
    """msgspec's "Expected `int` <= 65535 - at `$.port`" as "PORT: Expected `int` <= 65535"."""
    if located := _LOCATED.match(message):
        return f"{located['field'].upper()}: {located['problem']}"
    return message
