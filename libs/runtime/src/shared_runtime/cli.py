"""Every console command's front door: `--help` and `--version` answer before anything starts.

Services are configured only by environment variables, so `--help` lists them, read from the
settings class the service will use (its defaults and descriptions), and nothing is read,
migrated, served or fetched until the arguments have been parsed.
"""

from __future__ import annotations

import argparse
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated, Any, Literal, TypeVar, get_args, get_origin

import msgspec

from shared_runtime.settings import InvalidSettings, ServiceSettings

Settings = TypeVar("Settings", bound=ServiceSettings)


def service_parser(
    prog: str, description: str, settings: type[ServiceSettings]
) -> argparse.ArgumentParser:
    """The parser of the command `prog` (also its distribution's name); add subcommands to it."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=environment_help(settings),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version(prog)}")
    return parser


def settings_from_environment(prog: str, settings: type[Settings]) -> Settings:
    """The command's settings, or its end with one line naming the variable and the problem."""
    try:
        return settings.from_environment()
    except InvalidSettings as error:
        sys.exit(f"{prog}: invalid configuration: {error}")


def environment_help(settings: type[ServiceSettings]) -> str:
    lines = ["environment variables:"]
    for field in msgspec.structs.fields(settings):
        lines.append(f"  {field.name.upper()}{_default(field)}")
        if description := _description(field.type):
            lines.append(f"      {description}")
    return "\n".join(lines)


def _description(annotation: Any) -> str | None:
    """From `Annotated[..., Meta(description=...)]`, also inside `... | None`."""
    if get_origin(annotation) is Annotated:
        metas = [m for m in annotation.__metadata__ if isinstance(m, msgspec.Meta)]
        return next((m.description for m in metas if m.description), None)
    return next(filter(None, map(_description, get_args(annotation))), None)


def _default(field: msgspec.structs.FieldInfo) -> str:
    choices = _choices(field.type)
    suffix = f" (one of: {', '.join(choices)})" if choices else ""
    if field.required:
        return f" (required){suffix}"
    if field.default is None:
        return f" (default: unset){suffix}"
    return f" (default: {_shown(field.default)}){suffix}"


def _choices(annotation: Any) -> list[str]:
    if get_origin(annotation) is Literal:
        return [str(choice) for choice in get_args(annotation)]
    # e.g. Literal[...] | None, Annotated[Literal[...], Meta(...)]
    return [c for arg in get_args(annotation) for c in _choices(arg)]


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if value != "" else '""'


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:  # run from a source tree without being installed
        return "unknown"
