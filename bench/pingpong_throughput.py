"""Pongs per second of `svc-pingpong` against a bare ASGI app doing the same atomic increment.

Both run as one uvicorn process each against the same database (SQLite file by default,
`--database-url postgresql://…` for PostgreSQL), loaded alternately by the same keep-alive client,
so the ratio shows what the framework, ORM, metrics and tracing cost per request. The ratio uses
each side's best round: on a shared machine, neighbours only ever slow a round down. Each side's
server CPU time per request (all its threads, the database driver's included) is reported too:
it moves least with the machine's load, and a CPU-bound server's rate is its inverse.
For PostgreSQL, point it at an existing (e.g. empty) database; it adds its tables there.

    .venv/bin/python bench/pingpong_throughput.py [--database-url URL] [--seconds 5] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

from benchkit import VENV_BIN, Launched, cpu_seconds, hammer, machine

BENCH_DIR = Path(__file__).resolve().parent


def measure(
    command: list[str], env: dict[str, str], args: argparse.Namespace
) -> tuple[float, float]:
    """Requests per second, and the server's CPU microseconds per request."""
    server = Launched(command, env)
    try:
        server.seconds_until_ok("/readyz")
        asyncio.run(hammer(server.port, "/pingpong", connections=args.connections, seconds=1))
        cpu_before = cpu_seconds(server.process.pid)
        answered = asyncio.run(
            hammer(server.port, "/pingpong", connections=args.connections, seconds=args.seconds)
        )
        cpu = cpu_seconds(server.process.pid) - cpu_before
    finally:
        server.stop()
    return answered / args.seconds, cpu * 1_000_000 / answered


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default="", help="PostgreSQL URL; empty means SQLite")
    parser.add_argument("--seconds", type=float, default=3.0, help="load per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="alternating measurements each")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive clients")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="pingpong-bench-") as data_dir:
        env = {"DATABASE_URL": args.database_url, "DATA_DIR": data_dir, "LOG_LEVEL": "WARNING"}
        service = [str(VENV_BIN / "svc-pingpong")]
        baseline = [
            sys.executable,
            "-m",
            "uvicorn",
            "--app-dir",
            str(BENCH_DIR),
            "--port",
            "{port}",
            "--no-access-log",
            "--log-level",
            "warning",
            "raw_counter_app:app",
        ]
        rates: dict[str, list[float]] = {"svc-pingpong": [], "bare ASGI + driver": []}
        cpu: dict[str, list[float]] = {name: [] for name in rates}
        for _ in range(args.rounds):
            for name, command in (("svc-pingpong", service), ("bare ASGI + driver", baseline)):
                rate, cpu_per_request = measure(command, env, args)
                rates[name].append(rate)
                cpu[name].append(cpu_per_request)

    database = "PostgreSQL" if args.database_url else "SQLite"
    print(f"machine: {machine()}; database: {database}; {args.connections} connections")
    for name, values in rates.items():
        runs = ", ".join(f"{v:.0f}" for v in values)
        print(
            f"{name:>20}: best {max(values):5.0f} req/s, median {statistics.median(values):5.0f}"
            f"  (rounds: {runs}); CPU per request {statistics.median(cpu[name]):.0f} us (median)"
        )
    ours, raw = rates["svc-pingpong"], rates["bare ASGI + driver"]
    best = max(ours) / max(raw)
    median = statistics.median(ours) / statistics.median(raw)
    print(f"ratio svc-pingpong / baseline: best {best:.2f}, median {median:.2f}  (aim >= 0.8)")
    by_cpu = statistics.median(cpu["bare ASGI + driver"]) / statistics.median(cpu["svc-pingpong"])
    print(f"ratio by CPU per request (baseline / svc-pingpong): {by_cpu:.2f}")


if __name__ == "__main__":
    main()
