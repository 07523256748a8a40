"""`svc-broadcaster` runs the service; `svc-broadcaster dlq replay` re-drives its dead letters."""

from __future__ import annotations

import asyncio
import json
import sys

from nats.errors import Error as NatsError

from shared_runtime.cli import service_parser, settings_from_environment
from shared_runtime.collector import pause_during_start
from shared_runtime.imports import skip_pydantic
from shared_runtime.logging import configure_logging
from shared_runtime.messaging import connect
from shared_runtime.telemetry import configure_tracing
from shared_runtime.web import serve
from svc_broadcaster.app import SERVICE, create_app, holder_identity, open_ledger
from svc_broadcaster.replay import ReplayReport, replay_dead_letters
from svc_broadcaster.settings import BroadcasterSettings


def main(argv: list[str] | None = None) -> None:
    parser = service_parser(SERVICE, __doc__ or "", BroadcasterSettings)
    commands = parser.add_subparsers(dest="command")
    dlq = commands.add_parser("dlq", help="operate on dead letters").add_subparsers(dest="action")
    dlq.add_parser("replay", help="republish dead letters to their subject and remove them")
    args = parser.parse_args(argv)
    if args.command == "dlq" and args.action != "replay":
        parser.error("dlq needs an action: replay")

    settings = settings_from_environment(SERVICE, BroadcasterSettings)
    skip_pydantic()  # before the app is built: Litestar looks for pydantic then
    configure_logging(SERVICE, settings.log_level)

    if args.command == "dlq":
        try:
            report = asyncio.run(replay(settings))
        except (NatsError, TimeoutError) as exc:
            sys.exit(
                f"{SERVICE} dlq replay: NATS refused or did not answer ({type(exc).__name__}). "
                "The replay needs a user with the rights of `replay` in nats/accounts.conf "
                "(NATS_USER/NATS_PASSWORD or NATS_CREDS) and DECLARE_STREAMS=false."
            )
        print(json.dumps(report.as_dict()))
        return
    configure_tracing(settings.otel_service_name or SERVICE, settings.otel_exporter_otlp_endpoint)
    pause_during_start()
    serve(create_app(settings), settings)


async def replay(settings: BroadcasterSettings) -> ReplayReport:
    nc = await connect(settings, f"{SERVICE}-replay", attempts=3)
    try:
        ledger = await open_ledger(settings, nc, holder_identity())
        return await replay_dead_letters(nc.jetstream(), ledger, settings.broadcaster_durable)
    finally:
        await nc.drain()
