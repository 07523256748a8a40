"""Cold start of service commands: process launch to the first 200, beside a bare ASGI baseline.

Each run starts a fresh process on a free port and polls `--path` every millisecond until it
answers 200. Service and baseline runs alternate, so load on the machine hits both alike. Also
reports the CPU time each process used until then (what other processes on a busy machine move
least), and `python -X importtime` for the service's entry module against `import uvicorn`.

    .venv/bin/python bench/cold_start.py --service svc-greeter --service svc-pingpong
    .venv/bin/python bench/cold_start.py --command "svc-todo" --module svc_todo.main \\
        --env DATABASE_URL=postgresql://… --path /readyz
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections import defaultdict
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

from benchkit import (
    VENV_BIN,
    Launched,
    compile_sources,
    cpu_seconds,
    machine,
    percentile,
    rss_megabytes,
)

BENCH_DIR = Path(__file__).resolve().parent
BASELINE = "bare ASGI (uvicorn)"
AS_AT_THE_EDGE = (
    "from shared_runtime.imports import skip_unused_imports, skip_unused_tracing_imports; "
    "skip_unused_imports(); skip_unused_tracing_imports()"
)
"""What a service's main does before loading its app (without an OTLP endpoint)."""
IMPORT_LINE = re.compile(r"^import time:\s+(\d+)\s+\|\s+(\d+)\s+\|(\s*)(\S+)$")


@dataclass(frozen=True)
class Target:
    name: str
    command: list[str]
    module: str


def service_target(service: str) -> Target:
    """A console command of this environment and the modules it loads: its entry point's, and
    the package's `app` (entry points may import it only once the process edge is set up)."""
    found = [ep for ep in entry_points(group="console_scripts") if ep.name == service]
    if not found:
        raise SystemExit(f"{service}: no such console command installed in {VENV_BIN}")
    entry = found[0].value.split(":")[0]
    modules = f"{entry}, {entry.rpartition('.')[0]}.app"
    return Target(service, [str(VENV_BIN / service)], modules)


def import_profile(statement: str) -> tuple[float, list[tuple[str, float]]]:
    """Total import time in ms (sum of `self`), and the five heaviest top-level packages."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", statement],
        capture_output=True,
        text=True,
        check=True,
    )
    per_package: dict[str, float] = defaultdict(float)
    for line in result.stderr.splitlines():
        if match := IMPORT_LINE.match(line):
            per_package[match.group(4).split(".")[0]] += int(match.group(1)) / 1000
    heaviest = sorted(per_package.items(), key=lambda item: -item[1])[:5]
    return sum(per_package.values()), heaviest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", action="append", default=[], help="console command name")
    parser.add_argument("--command", help="any other command line (split on spaces)")
    parser.add_argument("--module", help="with --command: the module it imports first")
    parser.add_argument("--path", default="/readyz", help="first 200 on this path ends a run")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--env", action="append", default=[], help="KEY=VALUE for the services")
    args = parser.parse_args()
    compile_sources()

    targets = [service_target(name) for name in args.service]
    if args.command:
        if not args.module:
            parser.error("--command needs --module for the import-time figure")
        command = args.command.split()
        targets.append(Target(command[0], command, args.module))
    if not targets:
        parser.error("give at least one --service or --command")

    with tempfile.TemporaryDirectory(prefix="cold-start-") as data_dir:
        # A shared DATA_DIR: after the first run the database is migrated, like a warm volume.
        env = {"DATA_DIR": data_dir, "DATABASE_URL": "", "LOG_LEVEL": "WARNING"}
        env |= dict(item.split("=", 1) for item in args.env)
        bare = [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "--port", "{port}"]
        bare += ["--no-access-log", "--log-level", "warning", "bare_asgi_app:app"]
        baseline = Target(BASELINE, bare, "")
        seconds: dict[str, list[float]] = defaultdict(list)
        rss: dict[str, list[float]] = defaultdict(list)
        cpu: dict[str, list[float]] = defaultdict(list)
        for _ in range(args.runs):
            for target in [*targets, baseline]:
                server = Launched(target.command, env)
                try:
                    seconds[target.name].append(server.seconds_until_ok(args.path))
                    rss[target.name].append(rss_megabytes(server.process.pid))
                    cpu[target.name].append(cpu_seconds(server.process.pid) * 1000)
                finally:
                    server.stop()

    print(f"machine: {machine()}; {args.runs} runs each, first 200 on {args.path}")
    base_p50 = percentile(seconds[BASELINE], 0.5)
    base_cpu = percentile(cpu[BASELINE], 0.5)
    for name, values in seconds.items():
        p50, p95 = percentile(values, 0.5), percentile(values, 0.95)
        cpu_p50 = percentile(cpu[name], 0.5)
        print(
            f"{name:>22}: p50 {p50 * 1000:6.0f} ms  p95 {p95 * 1000:6.0f} ms"
            f"  (x{p50 / base_p50:.2f} baseline p50)  RSS {percentile(rss[name], 0.5):.0f} MiB"
            f"  CPU p50 {cpu_p50:.0f} ms (x{cpu_p50 / base_cpu:.2f})"
        )
    base_import, _ = import_profile("import uvicorn")
    print("aims: svc-todo <= 3.5x, svc-pingpong <= 3x, svc-wikipedia <= 1.5x the baseline p50")
    print(f"python -X importtime, sum of self times; `import uvicorn`: {base_import:.0f} ms")
    for target in targets:
        total, heaviest = import_profile(f"{AS_AT_THE_EDGE}; import {target.module}")
        top = ", ".join(f"{package} {ms:.0f}" for package, ms in heaviest)
        print(f"{target.name:>22}: {total:6.0f} ms importing {target.module}  (heaviest: {top})")


if __name__ == "__main__":
    main()
