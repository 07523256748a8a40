"""Staging validation, run by ArgoCD after every staging sync (validation.yaml, a PostSync Job)
in the svc-todo image of the synced commit. It exercises the system as a user does, through
the public hostnames, then asks Prometheus whether the environment is healthy:

- the todo API round trip (create with an Idempotency-Key, read, list, delete), the page, and
  an internal path that must not be routed from outside;
- the log-output page with its pings and greeting lines;
- every scrape target of the namespace up, no alert firing in it, and every query of the
  dashboard returning data (the functions' panels may be empty while they sleep at zero).

The outcome is reported as the `staging/validation` commit status of COMMIT, which the release
workflow waits for before promoting that commit to production. Exit status 0 = validated.
"""

from __future__ import annotations

import json
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

SLEEPING_FUNCTION_METRICS = ("pingpong_pongs", "wikipedia_suggestions", "wikipedia_failures")
"""Dashboard series of scale-to-zero functions: no data while no pod runs is not a fault."""

EXPECTED_JOBS = ("svc-todo", "svc-broadcaster", "svc-greeter", "svc-logoutput", "nats")


def dashboard_queries(dashboard: dict[str, object], namespace: str) -> Iterator[str]:
    """Every panel query, with the dashboard's variables filled as Grafana would."""
    panels = list(dashboard.get("panels", []))  # type: ignore[call-overload]
    while panels:
        panel = panels.pop()
        panels.extend(panel.get("panels", []))
        for target in panel.get("targets", []):
            if expr := target.get("expr"):
                expr = re.sub(r"\$__(rate_)?interval|\$\{__(rate_)?interval\}", "5m", expr)
                yield re.sub(r"\$\{?namespace\}?", namespace, expr)


def check_public_paths(todo: httpx.Client, log: httpx.Client) -> Iterator[str]:
    text = f"staging validation {uuid.uuid4()}"
    created = todo.post("/api/todos", json={"text": text}, headers={"Idempotency-Key": text})
    if created.status_code != 201:
        yield f"POST /api/todos answered {created.status_code}: {created.text[:200]}"
        return
    todo_id = created.json()["id"]
    if todo.get(f"/api/todos/{todo_id}").status_code != 200:
        yield f"GET /api/todos/{todo_id} does not find the todo just created"
    if todo_id not in {t["id"] for t in todo.get("/api/todos", params={"limit": 100}).json()}:
        yield "GET /api/todos does not list the todo just created"
    if todo.delete(f"/api/todos/{todo_id}").status_code != 204:
        yield f"DELETE /api/todos/{todo_id} failed"
    page = todo.get("/")
    if page.status_code != 200 or "text/html" not in page.headers.get("content-type", ""):
        yield f"GET / answered {page.status_code} {page.headers.get('content-type')}"
    if todo.get("/metrics").status_code != 404:
        yield "GET /metrics is reachable from the internet"
    lines = log.get("/").text
    for wanted in ("Ping / Pongs: ", "greetings: "):
        if wanted not in lines:
            yield f"the log-output page has no line {wanted!r}"


def check_monitoring(prometheus: httpx.Client, namespace: str, dashboard: Path) -> Iterator[str]:
    def query(expr: str) -> list[dict[str, object]]:
        answer = prometheus.get("/api/v1/query", params={"query": expr}).json()
        if answer.get("status") != "success":
            raise RuntimeError(f"{expr}: {answer.get('error')}")
        return list(answer["data"]["result"])

    targets = query(f'up{{namespace="{namespace}"}}')
    jobs = {str(t["metric"].get("job")) for t in targets}  # type: ignore[union-attr]
    yield from (f"no scrape target for {job}" for job in EXPECTED_JOBS if job not in jobs)
    for target in targets:
        if target["value"][1] != "1":  # type: ignore[index]
            yield f"target down: {target['metric']}"
    for alert in query(f'ALERTS{{namespace="{namespace}", alertstate="firing"}}'):
        yield f"alert firing: {alert['metric']}"
    for file in sorted(dashboard.glob("*.json")):
        for expr in dashboard_queries(json.loads(file.read_text()), namespace):
            if not query(expr) and not any(m in expr for m in SLEEPING_FUNCTION_METRICS):
                yield f"dashboard query returns no data: {expr}"


def report(status: str, description: str) -> None:
    """The `staging/validation` commit status the release workflow waits for."""
    token, repository, commit = (os.environ.get(k) for k in ("GITHUB_TOKEN", "REPO", "COMMIT"))
    if not (token and repository and commit):
        print("no GITHUB_TOKEN/REPO/COMMIT: commit status not reported", flush=True)
        return
    httpx.post(
        f"https://api.github.com/repos/{repository}/statuses/{commit}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
        json={"state": status, "context": "staging/validation", "description": description},
        timeout=10,
    ).raise_for_status()


def main() -> int:
    namespace = os.environ["NAMESPACE"]
    with (
        httpx.Client(base_url=os.environ["TODO_URL"], timeout=15) as todo,
        httpx.Client(base_url=os.environ["LOG_URL"], timeout=15) as log,
        httpx.Client(base_url=os.environ["PROMETHEUS_URL"], timeout=15) as prometheus,
    ):
        checks: list[Callable[[], Iterator[str]]] = [
            lambda: check_public_paths(todo, log),
            lambda: check_monitoring(prometheus, namespace, Path(os.environ["DASHBOARDS"])),
        ]
        problems = []
        for check in checks:
            try:
                problems.extend(check())
            except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as error:
                problems.append(f"{type(error).__name__}: {error}")
    for problem in problems:
        print(f"FAIL {problem}", flush=True)
    verdict = "failure" if problems else "success"
    report(verdict, f"{len(problems)} problem(s)" if problems else "API, pages and monitoring ok")
    print(f"staging validation: {verdict}", flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
