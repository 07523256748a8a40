"""Console entry: `svc-wikipedia` serves; `svc-wikipedia fetch-page --out FILE` writes a page.

Each command imports only what it uses, so the page fetcher never loads the web stack and the
service's cold start pays for nothing it does not need.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shared_runtime.cli import service_parser, settings_from_environment
from shared_runtime.collector import pause_during_start
from shared_runtime.imports import skip_unused_imports
from shared_runtime.logging import configure_logging
from svc_wikipedia.settings import WikipediaSettings

if TYPE_CHECKING:
    from svc_wikipedia.fetch_page import Interval

SERVICE = "svc-wikipedia"


def _interval(text: str) -> Interval:
    from svc_wikipedia.fetch_page import parse_interval

    try:
        return parse_interval(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _parser() -> argparse.ArgumentParser:
    parser = service_parser(
        SERVICE,
        "Suggest random Wikipedia articles to read. Without a command: serve.",
        WikipediaSettings,
    )
    commands = parser.add_subparsers(dest="command")
    fetch = commands.add_parser(
        "fetch-page", help="write a Wikipedia article's HTML to a file, once or repeatedly"
    )
    fetch.add_argument("--out", type=Path, required=True, help="file to write atomically")
    fetch.add_argument(
        "--every", type=_interval, help="repeat after a random pause in this range, e.g. 5-15m"
    )
    fetch.add_argument("--url", help="this article instead of a random one")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    arguments = _parser().parse_args(argv)
    settings = settings_from_environment(SERVICE, WikipediaSettings)
    skip_unused_imports(settings.nats_url)
    configure_logging(SERVICE, settings.log_level)
    if arguments.command == "fetch-page":
        from svc_wikipedia.fetch_page import fetch_page

        sys.exit(
            asyncio.run(
                fetch_page(settings, arguments.out, url=arguments.url, every=arguments.every)
            )
        )

    pause_during_start()
    from svc_wikipedia.wikipedia import preloaded_trust_store

    trust_store = preloaded_trust_store(settings)  # loads while the imports below run

    from shared_runtime.server import serve
    from shared_runtime.telemetry import configure_tracing
    from svc_wikipedia.app import create_app

    configure_tracing(settings.otel_service_name or SERVICE, settings.otel_exporter_otlp_endpoint)
    serve(create_app(settings, trust_store=trust_store), settings)
