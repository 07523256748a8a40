"""Check every deployment manifest offline; exit 1 if anything fails. Installs nothing.

    .venv/bin/python tools/check_manifests.py                 # every check
    .venv/bin/python tools/check_manifests.py --metric-names  # service metrics in rules/dashboards

Needs on PATH (or in .venv/bin): kubectl, promtool, nats-server, check-jsonschema; and the
Python packages kubernetes-validate and check-jsonschema (jsonschema). docs/deploy.md lists the
install commands.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from manifest_checks import (
    connectivity,
    gitops,
    metrics,
    nats_config,
    policy,
    promtests,
    render,
    schemas,
    staging_validation,
    workflows,
)
from manifest_checks.tools import MissingTool


class Report:
    def __init__(self) -> None:
        self.failed = 0

    def check(self, title: str, run: Callable[[], list[str]]) -> None:
        started = time.monotonic()
        try:
            problems = run()
        except (MissingTool, render.RenderError) as error:
            problems = [str(error)]
        seconds = time.monotonic() - started
        status = "ok  " if not problems else "FAIL"
        print(f"{status} {title} ({seconds:.1f}s)")
        for problem in problems:
            print(f"       {problem}")
        self.failed += bool(problems)


def _relative(path: Path) -> str:
    return str(path.relative_to(render.REPO))


def run_all() -> int:
    report = Report()
    rendered: dict[str, list[render.Manifest]] = {}
    for directory in render.kustomizations():
        name = _relative(directory)

        def build(directory: Path = directory, name: str = name) -> list[str]:
            rendered[name] = render.build(directory)
            return []

        report.check(f"kustomize build {name}", build)
    for name, manifests in rendered.items():
        report.check(
            f"kubernetes-validate --strict (Kubernetes {schemas.KUBERNETES_VERSION}) {name}",
            partial(schemas.core_problems, manifests),
        )
        report.check(f"CRD schemas {name}", partial(schemas.custom_resource_problems, manifests))
    report.check(
        "argocd: each Application's kinds, destinations and sync options against its AppProject",
        partial(gitops.application_problems, rendered),
    )
    for name in render.DEPLOYABLE:
        manifests = rendered.get(name, [])
        for check_name, check in policy.CHECKS.items():
            report.check(f"policy {check_name} {name}", partial(check, manifests))
    for name in render.ENVIRONMENTS:
        report.check(
            f"connectivity (network-config-analyzer: NetworkPolicies and mesh) {name}",
            partial(connectivity.connectivity_problems, rendered.get(name, [])),
        )
    for name, manifests in rendered.items():
        if any(metrics.queries(manifests)):
            report.check(f"promtool {name}", partial(metrics.promtool_problems, manifests))
            report.check(
                f"latency queries leave out streaming routes {name}",
                partial(promtests.streaming_problems, manifests),
            )
    report.check(
        f"promtool test rules {_relative(promtests.RULE_TESTS)} (k8s/overlays/production)",
        partial(promtests.rule_test_problems, rendered.get("k8s/overlays/production", [])),
    )
    for config in nats_config.CONFIGS:
        report.check(
            f"nats-server -t {_relative(config)}", partial(nats_config.config_problems, config)
        )
    workflow_files = sorted((render.REPO / ".github" / "workflows").glob("*.y*ml"))
    report.check(
        "check-jsonschema vendor.github-workflows",
        partial(schemas.workflow_problems, workflow_files),
    )
    report.check(
        "release order: no promotion before the commit's images and staging's validation",
        workflows.release_order_problems,
    )
    report.check(
        "staging validation: the commit's test runner, against the hosts staging serves",
        partial(staging_validation.validation_problems, rendered.get("k8s/overlays/staging", [])),
    )
    print(f"\n{report.failed} check(s) failed" if report.failed else "\nall manifest checks passed")
    return 1 if report.failed else 0


def print_metric_names() -> int:
    manifests = [m for d in render.DEPLOYABLE for m in render.build(render.REPO / d)]
    for name in sorted(metrics.used_metric_names(manifests)):
        print(name)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--metric-names",
        action="store_true",
        help="print the service metrics that rules, dashboards and canary analysis read",
    )
    arguments = parser.parse_args()
    return print_metric_names() if arguments.metric_names else run_all()


if __name__ == "__main__":
    sys.exit(main())
