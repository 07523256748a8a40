"""`svc-dummysite`: the operator, configured only by environment variables (see settings.py)."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from shared_runtime.cli import service_parser, settings_from_environment
from shared_runtime.logging import configure_logging
from svc_dummysite.kubernetes import NoCredentials
from svc_dummysite.operator import run_operator
from svc_dummysite.settings import DummySiteSettings

SERVICE = "svc-dummysite"
DESCRIPTION = (
    "Kubernetes operator: each DummySite resource (a URL) becomes a Deployment and Service "
    "serving a copy of that page."
)


def main(argv: Sequence[str] | None = None) -> None:
    service_parser(SERVICE, DESCRIPTION, DummySiteSettings).parse_args(argv)
    settings = settings_from_environment(SERVICE, DummySiteSettings)
    configure_logging(SERVICE, settings.log_level)
    try:
        asyncio.run(run_operator(settings))
    except NoCredentials as exc:
        sys.exit(f"{SERVICE}: {exc}")


if __name__ == "__main__":
    main()
