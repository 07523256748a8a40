"""The platform's rules hold for every environment, and each rule catches what it is about."""

from __future__ import annotations

import pytest
from manifest_checks import policy, render

Rendered = dict[str, list[render.Manifest]]


@pytest.mark.parametrize("deployable", render.DEPLOYABLE)
@pytest.mark.parametrize("check", sorted(policy.CHECKS))
def test_every_environment_complies(rendered: Rendered, deployable: str, check: str) -> None:
    assert policy.CHECKS[check](rendered[deployable]) == []


BROKEN_FINDINGS = {
    "workloads": [
        "Deployment/broken/insecure container app: no readinessProbe",
        "Deployment/broken/insecure container app: no livenessProbe",
        "Deployment/broken/insecure container app: no startupProbe",
        "Deployment/broken/insecure container app: no memory limit",
        "Deployment/broken/insecure container app: runAsNonRoot is not true",
        "Deployment/broken/insecure container app: root filesystem is writable",
        "Deployment/broken/insecure container app: allowPrivilegeEscalation is not false",
        "Deployment/broken/insecure container app: capabilities are not all dropped",
        "Deployment/broken/insecure container app: seccomp profile is not RuntimeDefault",
    ],
    "images": [
        "Deployment/broken/insecure container app: image "
        "'ghcr.io/example-org/insecure:latest' has no version tag",
        "Deployment/broken/svc-greeter-v1 container svc-greeter: image "
        "'ghcr.io/example-org/svc-greeter' has no version tag",
    ],
    "services": ["Service/broken/orphan: selector {'app.kubernetes.io/name': 'nobody'}"],
    "references": [
        "Deployment/broken/insecure container app: ConfigMap missing-config does not exist",
        "Deployment/broken/insecure container app env PASSWORD: Secret missing-secret does not "
        "exist",
        "Deployment/broken/insecure container app env MESSAGE: ConfigMap present-config has no "
        "key 'absent-key'",
    ],
    "hosts": [
        "VirtualService/broken/ghost: host ghost is not a Service",
        "VirtualService/broken/ghost: destination ghost is not a Service",
        "VirtualService/broken/leaky: host evil.example.org is not served by Gateway public",
    ],
    "greeter-split": [
        "VirtualService/broken/svc-greeter route version-split: weights sum to 90",
        "VirtualService/broken/svc-greeter route version-split: greeter split is "
        "{'v1': 50, 'v3': 40}",
    ],
    "subsets": [
        "DestinationRule/broken/svc-greeter subset v2: labels",
        "VirtualService/broken/svc-greeter: subset v3 of svc-greeter is not defined",
    ],
    "streaming-routes": [
        "VirtualService/broken/impatient route live-updates: its 30s timeout cuts the streams "
        "of /events",
    ],
    "public-routes": [
        "VirtualService/broken/leaky route everything: {'uri': {'prefix': '/'}} reaches "
        "internal path /metrics",
        "VirtualService/broken/leaky route rewritten: {'uri': {'prefix': '/ops/'}} reaches "
        "internal path /healthz",
    ],
    "statefulsets": ["StatefulSet/broken/database: serviceName database is not headless"],
    "namespaces": ["Namespace/-/broken: pod-security.kubernetes.io/enforce is not restricted"],
    "podmonitors": ["PodMonitor/broken/unscraped: StatefulSet/broken/database has no port metrics"],
}


def test_every_check_has_a_broken_example() -> None:
    assert set(BROKEN_FINDINGS) == set(policy.CHECKS)


@pytest.mark.parametrize("check", sorted(BROKEN_FINDINGS))
def test_each_check_catches_the_broken_manifest(broken: list[render.Manifest], check: str) -> None:
    problems = policy.CHECKS[check](broken)
    for expected in BROKEN_FINDINGS[check]:
        assert any(p.startswith(expected) for p in problems), (expected, problems)


def test_the_greeter_split_is_seventy_five_twenty_five(rendered: Rendered) -> None:
    split = {
        d["destination"]["subset"]: d["weight"]
        for vs in render.of_kind(rendered["k8s/overlays/production"], "VirtualService")
        if vs["metadata"]["name"] == "svc-greeter"
        for route in vs["spec"]["http"]
        for d in route["route"]
    }
    assert split == {"v1": 75, "v2": 25}


def test_public_routes_serve_the_page_but_not_internal_paths() -> None:
    todo_routes = {"uri": {"prefix": "/api/todos"}}
    assert policy._reaches({"uri": {"exact": "/"}}, None, "/")
    assert not any(policy._reaches(todo_routes, None, p) for p in policy.INTERNAL_PATHS)
    assert policy._reaches({"uri": {"regex": "/(metrics|x)"}}, None, "/metrics")
