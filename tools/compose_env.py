"""Write the passwords `docker compose up` needs into `.env` (gitignored), once.

compose.yaml has no default passwords: every `${..._PASSWORD:?...}` it names must be set, or
Compose refuses to start and names this script. It generates a random password for each one
missing from `.env`, keeps the ones already there (PostgreSQL keeps the password its volume was
created with), and never prints a value. Standard library only: it runs before any set-up.

    python3 tools/compose_env.py [--env-file PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import string
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "compose.yaml"
# Letters only: safe unquoted in a URL, a shell, an .env file and a nats-server config value.
ALPHABET = string.ascii_letters
LENGTH = 32  # about 182 bits


def required_passwords(compose_text: str) -> list[str]:
    """The password variables compose.yaml insists on, in the order it names them."""
    return list(dict.fromkeys(re.findall(r"\$\{(\w*PASSWORD\w*):\?", compose_text)))


def already_set(env_file: Path) -> set[str]:
    if not env_file.exists():
        return set()
    names = (line.split("=", 1)[0].strip() for line in env_file.read_text().splitlines())
    return {name for name in names if name and not name.startswith("#")}


def new_password() -> str:
    return "".join(secrets.choice(ALPHABET) for _ in range(LENGTH))


def write_missing(env_file: Path, names: list[str]) -> list[str]:
    """Append a password for every name not yet in `env_file`; return the names added."""
    missing = [name for name in names if name not in already_set(env_file)]
    if not missing:
        return []
    kept = env_file.read_text() if env_file.exists() else ""
    if kept and not kept.endswith("\n"):
        kept += "\n"
    added = "".join(f"{name}={new_password()}\n" for name in missing)
    partial = env_file.with_name(env_file.name + ".tmp")
    descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(kept + added)
    os.replace(partial, env_file)
    return missing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env-file", type=Path, default=REPO / ".env")
    args = parser.parse_args()
    added = write_missing(args.env_file, required_passwords(COMPOSE_FILE.read_text()))
    if added:
        print(f"{args.env_file}: generated {', '.join(added)}")
    else:
        print(f"{args.env_file}: every password is already set")


if __name__ == "__main__":
    main()
