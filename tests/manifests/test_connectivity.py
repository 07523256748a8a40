"""Every call the system makes is allowed, and the named forbidden ones denied, by the
NetworkPolicies and the mesh's AuthorizationPolicies together, as network-config-analyzer
computes them for each environment."""

from __future__ import annotations

import copy

import pytest
from manifest_checks import connectivity, render

Rendered = dict[str, list[render.Manifest]]
STAGING = "k8s/overlays/staging"


@pytest.fixture
def staging(rendered: Rendered) -> list[render.Manifest]:
    return copy.deepcopy(rendered[STAGING])


def _named(manifests: list[render.Manifest], kind: str, name: str) -> render.Manifest:
    [found] = [m for m in render.of_kind(manifests, kind) if m["metadata"]["name"] == name]
    return found


@pytest.mark.parametrize("environment", render.ENVIRONMENTS)
def test_every_call_is_allowed_and_no_forbidden_one(rendered: Rendered, environment: str) -> None:
    assert connectivity.connectivity_problems(rendered[environment]) == []


def test_log_output_without_a_way_to_the_activator_cannot_reach_pingpong(
    staging: list[render.Manifest],
) -> None:
    policy = _named(staging, "NetworkPolicy", "svc-logoutput")
    for rule in policy["spec"]["egress"]:
        rule["to"] = [peer for peer in rule["to"] if "namespaceSelector" not in peer]
    assert connectivity.connectivity_problems(staging) == [
        "todo-staging/svc-logoutput -> knative-serving/activator:8012 GET /pings is not allowed"
    ]


def test_letting_knative_namespaces_in_lets_them_do_anything(
    staging: list[render.Manifest],
) -> None:
    """The policy this project once had: any workload of Knative's namespaces, any path."""
    policy = _named(staging, "AuthorizationPolicy", "svc-wikipedia-knative")
    policy["spec"]["rules"] = [
        {"from": [{"source": {"namespaces": ["knative-serving", "knative-eventing"]}}]}
    ]
    assert connectivity.connectivity_problems(staging) == [
        "knative-serving/activator -> todo-staging/svc-wikipedia:8012 DELETE / is not denied"
    ]


def test_a_call_to_a_workload_that_does_not_exist_fails(staging: list[render.Manifest]) -> None:
    ghost = connectivity.Call(connectivity.GATEWAY, "APP/svc-ghost", 80, "GET", "/")
    assert connectivity.connectivity_problems(staging, allowed=[ghost], denied=[]) == [
        "istio-system/istio-ingressgateway -> todo-staging/svc-ghost:80 GET /: "
        "no such workload in the environment"
    ]
