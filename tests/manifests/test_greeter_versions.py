"""Greeter v1 and v2 say their own greetings however the stack runs (`make up`, compose,
Kubernetes): each takes it from the code, so the 75/25 split can be seen."""

from __future__ import annotations

from collections.abc import Mapping

import devstack
import pytest
import yaml
from manifest_checks import render

from svc_greeter.settings import GREETINGS, GreeterSettings

EXPECTED = {"v1": "Hello", "v2": "Howdy"}


def greetings(environments: list[Mapping[str, str]]) -> dict[str, str]:
    """version -> the greeting a greeter started with that environment answers."""
    said = {}
    for environment in environments:
        settings = GreeterSettings.from_environment(
            **{name.lower(): value for name, value in environment.items()}
        )
        said[settings.greeter_version] = settings.version_greeting
    return said


@pytest.fixture(autouse=True)
def no_greeting_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GREETING", raising=False)
    monkeypatch.delenv("GREETER_VERSION", raising=False)


def test_the_code_decides_each_versions_greeting() -> None:
    assert GREETINGS == EXPECTED


def test_make_up() -> None:
    plan = devstack.plan_from({})
    environments = [
        plan.service_env({}, service)
        for service in devstack.SERVICES
        if service.command == "svc-greeter"
    ]
    assert greetings(environments) == EXPECTED


def test_compose() -> None:
    services = yaml.safe_load((render.REPO / "compose.yaml").read_text())["services"]
    environments = [
        service["environment"]
        for service in services.values()
        if service.get("image", "").startswith("todo-platform/svc-greeter:")
    ]
    assert greetings(environments) == EXPECTED


@pytest.mark.parametrize("overlay", ["k8s/overlays/staging", "k8s/overlays/production"])
def test_kubernetes(overlay: str) -> None:
    manifests = render.build(render.REPO / overlay)
    config = {
        render.name_of(m).split("/")[-1]: m.get("data", {})
        for m in render.of_kind(manifests, "ConfigMap")
    }
    environments = []
    for workload in render.of_kind(manifests, "Deployment"):
        for container in workload["spec"]["template"]["spec"]["containers"]:
            if container["name"] != "svc-greeter":
                continue
            shared = [
                config[source["configMapRef"]["name"]]
                for source in container.get("envFrom", [])
                if "configMapRef" in source
            ]
            own = {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}
            environments.append({k: v for c in shared for k, v in c.items()} | own)
    assert greetings(environments) == EXPECTED
