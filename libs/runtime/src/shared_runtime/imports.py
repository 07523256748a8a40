"""Optional imports a service process never uses, marked absent at its edge (main) before any
library loads them.

Some libraries import an optional part eagerly whenever it happens to be installed, and catch
the ImportError when it is not. Marking the part absent in `sys.modules` takes that documented
fallback, so a cold start pays only for what the process runs.
"""

from __future__ import annotations

import sys


def _absent(*modules: str) -> None:
    for module in modules:
        sys.modules.setdefault(module, None)  # type: ignore[arg-type]


def skip_unused_tracing_imports() -> None:
    """No spans are recorded: Litestar still imports its OpenTelemetry plugin (and with it the
    ASGI instrumentation and wrapt) on every app, 20-60 ms of a start, to look for it."""
    _absent("litestar.plugins.opentelemetry")


def skip_unused_imports(nats_url: str | None = None) -> None:
    """httpx's command line (click, rich, pygments: a third of httpx's import time) is never
    run by a service; nats-py imports aiohttp only to offer WebSocket URLs, so it is skipped
    unless `nats_url` is one. Without aiohttp nothing a service runs uses attrs, which Litestar
    imports at every app's construction (10 ms) only to look for attrs classes."""
    _absent("httpx._main")
    if not (nats_url or "").startswith(("ws://", "wss://")):
        _absent("aiohttp", "attrs", "attr")


def skip_postgres_driver() -> None:
    """For a process on SQLite: Piccolo imports asyncpg whenever it is installed (for its UUID
    type, 16-25 ms and 3 MiB of a start) and falls back to the standard one without it."""
    _absent("asyncpg")


def skip_pydantic() -> None:
    """For a process with no pydantic model of its own: Litestar imports its pydantic plugin
    (pydantic and pydantic.v1, tens of ms of a start) whenever pydantic is installed, which
    Piccolo requires, and leaves the plugin out without it. Likewise for annotated-types,
    installed only as pydantic's dependency: Litestar imports it (4-6 ms) to read constraints
    that no handler of ours declares with it (ours are msgspec's)."""
    _absent("pydantic", "annotated_types")
