"""`svc-dummysite`: the operator, configured only by environment variables (see settings.py)."""

from __future__ import annotations

import asyncio

from shared_runtime.logging import configure_logging
from svc_dummysite.operator import run_operator
from svc_dummysite.settings import DummySiteSettings

SERVICE = "svc-dummysite"


def main() -> None:
    settings = DummySiteSettings()
    configure_logging(SERVICE, settings.log_level)
    asyncio.run(run_operator(settings))


if __name__ == "__main__":
    main()
