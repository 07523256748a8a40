"""Staging validation, run by ArgoCD after every staging sync (k8s/overlays/staging/validation.yaml,
a PostSync Job) in the test-runner image of the synced commit (tests/Dockerfile):

- the deployed suite (tests/deployed) against staging's public hosts, TARGET_URL and
  TARGET_LOG_URL: the todo REST contract, the page and its live updates, log-output's page with
  pingpong's count and the greeter's greeting, and what the public hosts must not expose;
- then Prometheus: every scrape target of the namespace up, no alert firing in it, and every query
  of the dashboard returning data (the functions' panels may be empty while they sleep at zero).

The outcome is reported as the `staging/validation` commit status of COMMIT, which the release
workflow waits for before promoting that commit to production. Exit status 0 = validated.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

STATUS_CONTEXT = "staging/validation"
"""The commit status the release workflow waits for (.github/workflows/release.yaml)."""
SUITE = Path(__file__).resolve().parent

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


def run_suite() -> Iterator[str]:
    """The deployed suite against TARGET_URL and TARGET_LOG_URL, its report in the Job's log.
    Without them the suite would launch the services itself: that is not staging. The tests
    never see the token that sets commit statuses."""
    if not (os.environ.get("TARGET_URL") and os.environ.get("TARGET_LOG_URL")):
        yield "TARGET_URL and TARGET_LOG_URL must name staging's public hosts"
        return
    command = [
        sys.executable,
        "-m",
        "pytest",
        str(SUITE),
        "-m",
        "deployed",
        "-p",
        "no:cacheprovider",
    ]
    without_token = {k: v for k, v in os.environ.items() if k != "GITHUB_TOKEN"}
    if subprocess.run(command, env=without_token, check=False).returncode != 0:
        yield "the deployed suite failed (its report is above)"


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
    """The commit status the release workflow waits for."""
    token, repository, commit = (os.environ.get(k) for k in ("GITHUB_TOKEN", "REPO", "COMMIT"))
    if not (token and repository and commit):
        print("no GITHUB_TOKEN/REPO/COMMIT: commit status not reported", flush=True)
        return
    httpx.post(
        f"https://api.github.com/repos/{repository}/statuses/{commit}",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"},
        json={"state": status, "context": STATUS_CONTEXT, "description": description},
        timeout=10,
    ).raise_for_status()


def main() -> int:
    problems = list(run_suite())
    namespace = os.environ["NAMESPACE"]
    with httpx.Client(base_url=os.environ["PROMETHEUS_URL"], timeout=15) as prometheus:
        try:
            problems += check_monitoring(prometheus, namespace, Path(os.environ["DASHBOARDS"]))
        except (httpx.HTTPError, RuntimeError, KeyError, ValueError) as error:
            problems.append(f"{type(error).__name__}: {error}")
    for problem in problems:
        print(f"FAIL {problem}", flush=True)
    verdict = "failure" if problems else "success"
    report(verdict, f"{len(problems)} problem(s)" if problems else "suite and monitoring ok")
    print(f"staging validation: {verdict}", flush=True)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
