"""Cold start of `svc-wikipedia` against a bare ASGI app on the same server (uvicorn).

Each run launches a fresh process and times, from launch: the first 200 on `/readyz` (NATS
connected, consumer bound), and the first accepted suggestion (`POST /` with a PingSource
CloudEvent answered 202, the command stored in JetStream) — what a scale-to-zero request waits
for — and the CPU time the process used until then (what other processes on a busy machine move
least). Runs alternate with the baseline (`bare_asgi_app.py`, first 200 on `/`) so machine noise
hits both. Wikipedia is a local fake and NATS a private nats-server, so the network is not
measured. Also reports idle RSS after readiness and `python -X importtime` totals.

    .venv/bin/python bench/wikipedia_cold_start.py [--runs 20]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from benchkit import (
    VENV_BIN,
    Launched,
    compile_sources,
    cpu_seconds,
    machine,
    percentile,
    rss_megabytes,
)

from shared_testkit.fake_http import FakeHttpServer, Recorded, Reply
from shared_testkit.nats_server import NatsServer

BENCH_DIR = Path(__file__).resolve().parent
PING = {
    "ce-specversion": "1.0",
    "ce-type": "dev.knative.sources.ping",
    "ce-source": "/bench",
    "Content-Type": "application/json",
}


def import_milliseconds(module: str, *, edge: str = "pass") -> float:
    """Sum of every module's own import time when importing `module` in a fresh interpreter,
    after `edge` (what the process runs before loading it)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"{edge}; import {module}"],
        capture_output=True,
        text=True,
        check=True,
        cwd=BENCH_DIR,
    )
    own = [int(line.split("|")[0].split(":")[1]) for line in result.stderr.splitlines()[1:]]
    return sum(own) / 1000


def service_run(env: dict[str, str], run: int) -> tuple[float, float, float, float]:
    server = Launched([str(VENV_BIN / "svc-wikipedia")], env)
    try:
        ready = server.seconds_until_ok("/readyz")
        rss = rss_megabytes(server.process.pid)
        response = httpx.post(
            f"http://127.0.0.1:{server.port}/", headers={**PING, "ce-id": f"bench-{run}"}
        )
        suggested = time.perf_counter() - server.started
        cpu = cpu_seconds(server.process.pid) * 1000
        if response.status_code != 202:
            raise RuntimeError(f"suggestion answered {response.status_code}: {response.text}")
    finally:
        server.stop()
    return ready, suggested, rss, cpu


def baseline_run() -> tuple[float, float, float]:
    command = [sys.executable, "-m", "uvicorn", "--app-dir", str(BENCH_DIR), "bare_asgi_app:app"]
    server = Launched([*command, "--port", "{port}", "--log-level", "warning"], {})
    try:
        ready = server.seconds_until_ok("/")
        rss = rss_megabytes(server.process.pid)
        cpu = cpu_seconds(server.process.pid) * 1000
    finally:
        server.stop()
    return ready, rss, cpu


def summary(label: str, seconds: list[float], baseline_p50: float) -> str:
    p50, p95 = percentile(seconds, 0.5), percentile(seconds, 0.95)
    return (
        f"{label:<34} p50 {p50 * 1000:6.0f} ms  p95 {p95 * 1000:6.0f} ms  "
        f"({p50 / baseline_p50:.1f}x baseline p50)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    compile_sources()

    def redirect(request: Recorded) -> Reply:
        return Reply(status=302, headers={"Location": "/wiki/Cold_start"})

    with tempfile.TemporaryDirectory(prefix="wikipedia-bench-") as data_dir:
        nats = NatsServer(Path(data_dir) / "jetstream")
        nats.start()
        try:
            with FakeHttpServer(redirect) as wikipedia:
                env = {
                    "NATS_URL": nats.url,
                    "WIKIPEDIA_BASE_URL": wikipedia.url,
                    "SUGGEST_EVERY_MINUTES": "0",
                    "CONSUME_NATS_REQUESTS": "false",  # as Knative runs it
                    "LOG_LEVEL": "WARNING",
                }
                service_run(env, -1)  # warm the OS page cache and declare the streams once
                env["DECLARE_STREAMS"] = "false"  # then bind to them, as in Kubernetes
                baseline_run()
                baseline, ready, suggested, service_rss, baseline_rss = [], [], [], [], []
                service_cpu, baseline_cpu = [], []
                for run in range(args.runs):
                    base_seconds, base_rss, base_cpu = baseline_run()
                    ready_seconds, suggested_seconds, rss, cpu = service_run(env, run)
                    baseline.append(base_seconds)
                    baseline_rss.append(base_rss)
                    baseline_cpu.append(base_cpu)
                    ready.append(ready_seconds)
                    suggested.append(suggested_seconds)
                    service_rss.append(rss)
                    service_cpu.append(cpu)
        finally:
            nats.stop()

    baseline_p50 = percentile(baseline, 0.5)
    print(f"machine: {machine()}; {args.runs} runs each, alternating")
    print(summary("baseline: bare ASGI app, first 200", baseline, baseline_p50))
    print(summary("svc-wikipedia: /readyz 200", ready, baseline_p50))
    print(summary("svc-wikipedia: first suggestion 202", suggested, baseline_p50))
    service_cpu_p50, baseline_cpu_p50 = percentile(service_cpu, 0.5), percentile(baseline_cpu, 0.5)
    print(
        f"CPU time used until then (p50): svc-wikipedia {service_cpu_p50:.0f} ms, "
        f"baseline {baseline_cpu_p50:.0f} ms ({service_cpu_p50 / baseline_cpu_p50:.1f}x)"
    )
    print(
        f"idle RSS after ready: svc-wikipedia {statistics.median(service_rss):.0f} MiB, "
        f"baseline {statistics.median(baseline_rss):.0f} MiB (medians)"
    )
    service_imports = import_milliseconds(
        "svc_wikipedia.main, svc_wikipedia.app",
        edge="from shared_runtime.imports import skip_unused_imports; skip_unused_imports()",
    )
    baseline_imports = import_milliseconds("uvicorn, bare_asgi_app")
    print(
        f"python -X importtime (sum of own times): svc-wikipedia {service_imports:.0f} ms, "
        f"baseline {baseline_imports:.0f} ms ({service_imports / baseline_imports:.1f}x)"
    )


if __name__ == "__main__":
    main()
