"""What compose and Kubernetes both configure must agree, or a user sees one system locally and
another in the cluster."""

from __future__ import annotations

import re

import yaml
from manifest_checks import render

Rendered = dict[str, list[render.Manifest]]
_DEFAULT = re.compile(r"^\$\{\w+:-(?P<default>[^}]*)\}$")
COMPARED = ("GREETER_VERSION", "GREETING")


def _compose_greeters() -> dict[str, dict[str, str]]:
    compose = yaml.safe_load((render.REPO / "compose.yaml").read_text())
    greeters = {}
    for service in compose["services"].values():
        environment = service.get("environment", {})
        if "GREETER_VERSION" in environment:
            values = {
                k: (m["default"] if (m := _DEFAULT.match(str(v))) else str(v))
                for k, v in environment.items()
            }
            greeters[values["GREETER_VERSION"]] = {k: values.get(k) for k in COMPARED}
    return greeters


def _kubernetes_greeters(manifests: list[render.Manifest]) -> dict[str, dict[str, str]]:
    greeters = {}
    for deployment in render.of_kind(manifests, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            environment = {e["name"]: e.get("value") for e in container.get("env", [])}
            if "GREETER_VERSION" in environment:
                greeters[environment["GREETER_VERSION"]] = {k: environment.get(k) for k in COMPARED}
    return greeters


def test_each_greeter_version_greets_alike_in_compose_and_kubernetes(rendered: Rendered) -> None:
    compose = _compose_greeters()
    assert set(compose) == {"v1", "v2"}
    for environment in ("k8s/overlays/staging", "k8s/overlays/production"):
        assert _kubernetes_greeters(rendered[environment]) == compose
