"""Every console command's front door: `--help` and `--version` answer before anything starts.

Services are configured only by environment variables, so `--help` lists them, read from the
settings model the service will use (its defaults and descriptions), and nothing is read,
migrated, served or fetched until the arguments have been parsed.
"""

from __future__ import annotations

import argparse
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Literal, get_args, get_origin

from pydantic import BaseModel
from pydantic.fields import FieldInfo


def service_parser(
    prog: str, description: str, settings: type[BaseModel]
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


def environment_help(settings: type[BaseModel]) -> str:
    lines = ["environment variables:"]
    for name, field in settings.model_fields.items():
        lines.append(f"  {name.upper()}{_default(field)}")
        if field.description:
            lines.append(f"      {field.description}")
    return "\n".join(lines)


def _default(field: FieldInfo) -> str:
    choices = _choices(field.annotation)
    suffix = f" (one of: {', '.join(choices)})" if choices else ""
    if field.is_required():
        return f" (required){suffix}"
    if field.default is None:
        return f" (default: unset){suffix}"
    return f" (default: {_shown(field.default)}){suffix}"


def _choices(annotation: Any) -> list[str]:
    if get_origin(annotation) is Literal:
        return [str(choice) for choice in get_args(annotation)]
    return [c for arg in get_args(annotation) for c in _choices(arg)]  # e.g. Literal[...] | None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return str(value) if value != "" else '""'


def _version(distribution: str) -> str:
    try:
        return version(distribution)
    except PackageNotFoundError:  # run from a source tree without being installed
        return "unknown"
