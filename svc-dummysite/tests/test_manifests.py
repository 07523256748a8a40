"""The operator's manifests, rendered as `kubectl apply -k` would: the controller runs with the
restricted security context, RBAC grants only what it manages, the CRD validates its resources."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tools"))

from manifest_checks import policy, render, schemas  # noqa: E402

MANIFESTS = REPO / "svc-dummysite" / "manifests"


@pytest.fixture(scope="module")
def rendered() -> list[render.Manifest]:
    return render.build(MANIFESTS)


def only(manifests: list[render.Manifest], kind: str) -> dict[str, Any]:
    (found,) = render.of_kind(manifests, kind)
    return found


def test_the_controller_runs_restricted(rendered: list[render.Manifest]) -> None:
    deployment = only(rendered, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    security = container["securityContext"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert security == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {
        "health": 8080,
        "metrics": 9090,
    }
    assert set(container["resources"]["limits"]) == {"cpu", "memory"}
    assert container["image"] == "ghcr.io/example-org/svc-dummysite:0.1.0"
    assert deployment["spec"]["replicas"] == 1
    assert deployment["spec"]["strategy"] == {"type": "Recreate"}
    assert policy.workload_problems(rendered) == []
    assert policy.image_problems(rendered) == []


def test_the_controller_may_touch_only_what_it_manages(rendered: list[render.Manifest]) -> None:
    rules = only(rendered, "ClusterRole")["rules"]
    granted = {
        (group, resource): set(rule["verbs"])
        for rule in rules
        for group in rule["apiGroups"]
        for resource in rule["resources"]
    }
    assert granted == {
        ("todo.example.org", "dummysites"): {"list", "watch", "patch"},
        ("todo.example.org", "dummysites/status"): {"patch"},
        ("todo.example.org", "dummysites/finalizers"): {"update"},
        ("", "configmaps"): {"get", "create", "patch"},
        ("", "services"): {"get", "create", "patch"},
        ("apps", "deployments"): {"get", "create", "patch"},
        ("", "events"): {"create"},
    }
    binding = only(rendered, "ClusterRoleBinding")
    account = only(rendered, "ServiceAccount")
    assert binding["subjects"] == [
        {
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": account["metadata"]["namespace"],
        }
    ]
    pod = only(rendered, "Deployment")["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == account["metadata"]["name"]


def test_the_crd_shows_url_phase_and_age_and_has_a_status(rendered: list[render.Manifest]) -> None:
    crd = only(rendered, "CustomResourceDefinition")
    (version,) = crd["spec"]["versions"]
    assert crd["spec"]["scope"] == "Namespaced"
    assert version["subresources"] == {"status": {}}
    columns = {c["name"]: c["jsonPath"] for c in version["additionalPrinterColumns"]}
    assert columns == {
        "URL": ".spec.websiteUrl",
        "Phase": ".status.phase",
        "Age": ".metadata.creationTimestamp",
    }


def example_with(spec: dict[str, Any]) -> render.Manifest:
    (example,) = render.build(MANIFESTS / "example")
    return {**example, "spec": spec}


def test_the_example_asks_for_example_com() -> None:
    (example,) = render.build(MANIFESTS / "example")
    assert example["spec"] == {"websiteUrl": "https://example.com/"}
    assert schemas.custom_resource_problems([example]) == []


@pytest.mark.parametrize(
    "spec",
    [
        {"websiteUrl": "http://example.com"},
        {"websiteUrl": "https://example.com/a/b?c=d#e", "refreshMinutes": 60},
    ],
)
def test_the_crd_accepts_http_urls(spec: dict[str, Any]) -> None:
    assert schemas.custom_resource_problems([example_with(spec)]) == []


@pytest.mark.parametrize(
    ("spec", "complaint"),
    [
        ({}, "'websiteUrl' is a required property"),
        ({"websiteUrl": "ftp://example.com/"}, "does not match"),
        ({"websiteUrl": "example.com"}, "does not match"),
        ({"websiteUrl": "https://"}, "does not match"),
        ({"websiteUrl": "https://example.com/", "refreshMinutes": 0}, "less than the minimum"),
    ],
)
def test_the_crd_rejects_what_is_not_an_http_url(spec: dict[str, Any], complaint: str) -> None:
    (problem,) = schemas.custom_resource_problems([example_with(spec)])
    assert problem.startswith("DummySite/-/example: spec")
    assert complaint in problem
