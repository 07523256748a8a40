"""A real Prometheus (Debian's `prometheus`) scrapes a real svc-todo with the labels the
production PodMonitor gives a canary pod, evaluates the rendered recording rules, and answers the
canary AnalysisTemplate's queries and the dashboard's svc-todo panels: each returns a series.
A live-update stream (/events) held open for seconds does not move the p99 the canary is judged
on, although it does land in the latency histogram."""

from __future__ import annotations

import importlib.util
import math
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import yaml
from manifest_checks import metrics, promtests, render, scrape
from manifest_checks.tools import tool

from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import wait_until
from shared_testkit.ports import free_port
from shared_testkit.processes import ServiceProcess

PRODUCTION = "k8s/overlays/production"
NAMESPACE = promtests.QUERY_ARGUMENTS["namespace"]
CANARY = promtests.QUERY_ARGUMENTS["canary-hash"]
STREAM_SECONDS = 2.0
SVC_TODO_SERIES = ("http_", "todos_", "todo_outbox")
"""Dashboard panels fed by svc-todo (the others need the other services and their traffic)."""


def _named(manifests: list[render.Manifest], kind: str, name: str) -> render.Manifest:
    [found] = [m for m in render.of_kind(manifests, kind) if m["metadata"]["name"] == name]
    return found


class Prometheus:
    def __init__(self, directory: Path, config: dict[str, Any], rules: dict[str, Any]) -> None:
        (directory / "rules.yaml").write_text(yaml.safe_dump(rules))
        (directory / "prometheus.yaml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.log = (directory / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                tool("prometheus"),
                f"--config.file={directory / 'prometheus.yaml'}",
                f"--storage.tsdb.path={directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.api = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=5)
        wait_until(self._ready, timeout=30, message="prometheus ready")

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"prometheus exited with {self.process.returncode}")
        return self.api.get("/-/ready").status_code == 200

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """`expr` evaluated now, or at the Unix time `at`."""
        params: dict[str, Any] = {"query": expr}
        if at is not None:
            params["time"] = at
        answer = self.api.get("/api/v1/query", params=params).json()
        assert answer["status"] == "success", (expr, answer)
        return list(answer["data"]["result"])

    def value(self, expr: str, at: float | None = None) -> float:
        [sample] = self.query(expr, at)
        return float(sample["value"][1])

    def stop(self) -> None:
        self.api.close()
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=15)
        self.log.close()


@pytest.fixture(scope="module")
def production(rendered: dict[str, list[render.Manifest]]) -> list[render.Manifest]:
    return rendered[PRODUCTION]


@pytest.fixture(scope="module")
def svc_todo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    directory = tmp_path_factory.mktemp("svc-todo")
    nats_server = NatsServer(directory / "jetstream")
    nats_server.start()
    process = ServiceProcess(
        "svc-todo",
        {
            "DATABASE_URL": "",
            "NATS_URL": nats_server.url,
            "DATA_DIR": str(directory / "data"),
            "IMAGE_SOURCE_URL": "http://127.0.0.1:9/unreachable",
        },
        directory,
    )
    try:
        process.start(wait_for="/readyz", timeout=30)
        yield process
    finally:
        process.stop(kill=True)
        nats_server.stop(kill=True)


@pytest.fixture(scope="module")
def prometheus(
    production: list[render.Manifest],
    svc_todo: ServiceProcess,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Prometheus]:
    """Scrapes svc-todo every second as the PodMonitor would label a canary pod of the Rollout;
    evaluates the rendered rules every second."""
    monitor = _named(production, "PodMonitor", "todo-platform-services")
    template = _named(production, "Deployment", "svc-todo")["spec"]["template"]
    pod_labels = {**template["metadata"]["labels"], "rollouts-pod-template-hash": CANARY}
    labels = scrape.target_labels(
        monitor,
        namespace=NAMESPACE,
        pod="svc-todo-canary-1",
        container="svc-todo",
        pod_labels=pod_labels,
    )
    endpoint = monitor["spec"]["podMetricsEndpoints"][0]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": ["rules.yaml"],
        "scrape_configs": [
            {
                "job_name": f"podMonitor/{NAMESPACE}/{monitor['metadata']['name']}/0",
                "metrics_path": endpoint["path"],
                "static_configs": [{"targets": [f"127.0.0.1:{svc_todo.port}"], "labels": labels}],
            }
        ],
    }
    groups = [
        {**group, "interval": "1s"}
        for rules in render.of_kind(production, "PrometheusRule")
        for group in rules["spec"]["groups"]
    ]
    server = Prometheus(tmp_path_factory.mktemp("prometheus"), config, {"groups": groups})
    yield server
    server.stop()


def visit(client: httpx.Client) -> None:
    """The page, the API and one rejected todo; returns once the outbox has published it all."""
    for index in range(40):
        assert client.get("/api/todos").status_code == 200
        if index % 10 == 0:
            assert client.post("/api/todos", json={"text": f"t{index}"}).status_code == 201
    assert client.post("/api/todos", json={"text": ""}).status_code == 400
    assert client.get("/").status_code == 200
    wait_until(
        lambda: "todo_outbox_backlog 0.0" in client.get("/metrics").text,
        timeout=15,
        message="svc-todo's outbox drained",
    )


def keep_page_open(client: httpx.Client, seconds: float) -> None:
    """A page open `seconds`, which then sees a todo created elsewhere: the stream's duration as
    the latency histogram records it (until its last event) is then at least `seconds`."""
    with client.stream("GET", "/events") as stream:
        assert stream.status_code == 200
        # The page stays open this long: the stream's lifetime is the scenario, not a wait.
        time.sleep(seconds)
        assert client.post("/api/todos", json={"text": "from elsewhere"}).status_code == 201
        next(line for line in stream.iter_lines() if line.startswith("event: todos"))


@pytest.fixture(scope="module")
def traffic(svc_todo: ServiceProcess, prometheus: Prometheus) -> None:
    """A user's visit: the page, the API, one rejected todo, and a live-update stream that stays
    open for a few seconds; then Prometheus has scraped and evaluated it all. Each kind of
    request is made once beforehand and scraped: a rate needs a counter seen before it grew."""
    with httpx.Client(base_url=svc_todo.url, timeout=10) as client:
        visit(client)
        keep_page_open(client, seconds=0)
        wait_until(
            lambda: prometheus.query('http_request_duration_seconds_count{path="/events"}'),
            timeout=30,
            message="the first visit scraped",
        )
        visit(client)
        keep_page_open(client, seconds=STREAM_SECONDS)
    wait_until(
        lambda: (
            prometheus.query('sum(http_request_duration_seconds_count{path="/events"}) > 1')
            and prometheus.query("job:http_request_duration_seconds:p99_5m")
            and prometheus.query("namespace:todos_rejected:rate5m")
        ),
        timeout=30,
        message="the stream's end scraped and the rules evaluated",
    )


def _analysis(production: list[render.Manifest]) -> dict[str, str]:
    template = _named(production, "AnalysisTemplate", "svc-todo-canary-health")
    return {
        m["name"]: promtests.filled(m["provider"]["prometheus"]["query"])
        for m in template["spec"]["metrics"]
    }


@pytest.mark.usefixtures("traffic")
def test_the_canary_analysis_reads_the_canary(
    prometheus: Prometheus, production: list[render.Manifest]
) -> None:
    """Both metrics of the AnalysisTemplate answer for the canary's pods: no 5xx was served, so
    the success rate is 1; the p99 is a number (how large depends on this machine's load)."""
    queries = _analysis(production)
    assert set(queries) == {"success-rate", "p99-latency"}
    assert prometheus.value(queries["success-rate"]) == 1.0
    assert math.isfinite(prometheus.value(queries["p99-latency"]))


@pytest.mark.usefixtures("traffic")
def test_an_open_stream_does_not_move_the_p99(
    prometheus: Prometheus, production: list[render.Manifest]
) -> None:
    """The canary's p99 is that of the answered requests alone; counting /events, it would be
    the stream's life (at least STREAM_SECONDS, so in a bucket above 1 s)."""
    p99 = _analysis(production)["p99-latency"]
    with_streams = p99.replace(', path!="/events"', "")
    answered_only = p99.replace('path!="/events"', 'path=~"/|/api/todos"')
    assert with_streams != p99, "the analysis query leaves /events out"
    assert prometheus.value(with_streams) >= 1.0
    now = time.time()
    assert prometheus.value(p99, now) == pytest.approx(prometheus.value(answered_only, now))
    assert prometheus.query(
        f'job:http_request_duration_seconds:p99_5m{{namespace="{NAMESPACE}", job="svc-todo"}}'
    )


@pytest.mark.usefixtures("traffic")
def test_the_dashboard_panels_of_svc_todo_show_data(
    prometheus: Prometheus, production: list[render.Manifest]
) -> None:
    panels = [
        promtests.filled(q.expr)
        for q in metrics.queries(production)
        if q.origin.startswith("ConfigMap/") and "panel" in q.origin
    ]
    fed = [expr for expr in panels if any(series in expr for series in SVC_TODO_SERIES)]
    assert len(fed) >= 6
    empty = [expr for expr in fed if not prometheus.query(expr)]
    assert empty == []


def _validation_script() -> ModuleType:
    path = render.REPO / "tests" / "deployed" / "validate_staging.py"
    spec = importlib.util.spec_from_file_location("validate_staging", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.usefixtures("traffic")
def test_the_staging_validation_reads_prometheus(prometheus: Prometheus, tmp_path: Path) -> None:
    """The PostSync Job's monitoring check against these real processes (its suite is
    tests/deployed, run on its own). Only svc-todo runs here: the other targets are missing and
    the greeter's and broadcaster's panels are empty; nothing else is reported."""
    script = _validation_script()
    dashboards = tmp_path / "dashboards"
    dashboards.mkdir()
    source = render.REPO / "monitoring" / "dashboards" / "todo-platform.json"
    (dashboards / source.name).write_text(source.read_text())
    with httpx.Client(base_url=f"http://127.0.0.1:{prometheus.port}") as api:
        monitoring = list(script.check_monitoring(api, NAMESPACE, dashboards))
    missing = [f"no scrape target for {job}" for job in script.EXPECTED_JOBS if job != "svc-todo"]
    assert monitoring[: len(missing)] == missing
    assert not [p for p in monitoring if p.startswith(("target down", "alert firing"))]
    empty_panels = monitoring[len(missing) :]
    assert empty_panels
    assert all("greeter" in p or "broadcaster" in p for p in empty_panels), empty_panels
