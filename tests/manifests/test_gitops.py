"""ArgoCD would apply what it renders: every Application's objects are of kinds its AppProject
allows, in namespaces it may deploy to, and replica counts owned by autoscalers survive a sync."""

from __future__ import annotations

import copy

from manifest_checks import gitops, render

Rendered = dict[str, list[render.Manifest]]


def _project(rendered: Rendered) -> render.Manifest:
    [project] = render.of_kind(rendered[gitops.GITOPS], "AppProject")
    return project


def _application(rendered: Rendered, name: str) -> render.Manifest:
    [application] = [
        a
        for a in render.of_kind(rendered[gitops.GITOPS], "Application")
        if a["metadata"]["name"] == name
    ]
    return application


def test_every_application_syncs_under_its_project(rendered: Rendered) -> None:
    assert gitops.application_problems(rendered) == []


def test_a_project_that_cannot_hold_itself_stops_the_root_app(rendered: Rendered) -> None:
    broken = copy.deepcopy(rendered)
    spec = _project(broken)["spec"]
    spec["namespaceResourceWhitelist"] = [
        e for e in spec["namespaceResourceWhitelist"] if e["kind"] != "AppProject"
    ]
    assert gitops.application_problems(broken) == [
        "Application/argocd/todo-platform-root renders AppProject/argocd/todo-platform: "
        "AppProject todo-platform does not allow namespaced kind argoproj.io/AppProject"
    ]


def test_a_kind_missing_from_the_project_is_named_with_its_application(rendered: Rendered) -> None:
    broken = copy.deepcopy(rendered)
    spec = _project(broken)["spec"]
    spec["namespaceResourceWhitelist"] = [
        e for e in spec["namespaceResourceWhitelist"] if e["kind"] != "PodMonitor"
    ]
    problems = gitops.application_problems(broken)
    assert any(
        p.startswith("Application/argocd/todo-staging renders PodMonitor/") for p in problems
    )
    assert any(
        p.startswith("Application/argocd/todo-production renders PodMonitor/") for p in problems
    )


def test_secrets_stay_forbidden_to_argocd(rendered: Rendered) -> None:
    project = _project(rendered)
    application = _application(rendered, "todo-staging")
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "leak"}}
    [problem] = gitops.kind_problems(project, application, [secret])
    assert "does not allow namespaced kind core/Secret" in problem


def test_autoscaled_replicas_are_ignored_and_the_ignore_respected(rendered: Rendered) -> None:
    broken = copy.deepcopy(rendered)
    staging = _application(broken, "todo-staging")
    staging["spec"]["syncPolicy"]["syncOptions"].remove("RespectIgnoreDifferences=true")
    production = _application(broken, "todo-production")
    del production["spec"]["ignoreDifferences"]
    assert gitops.application_problems(broken) == [
        "Application/argocd/todo-production: Canary/todo-production/svc-pingpong splits the "
        "traffic of Knative Service svc-pingpong, whose /spec/traffic ArgoCD does not ignore",
        "Application/argocd/todo-production: HorizontalPodAutoscaler/todo-production/svc-todo "
        "scales Rollout svc-todo, whose /spec/replicas ArgoCD does not ignore",
        "Application/argocd/todo-staging: ignoreDifferences without "
        "RespectIgnoreDifferences=true is overwritten on every sync",
    ]


def test_flagger_owns_the_traffic_split_of_its_knative_canary(rendered: Rendered) -> None:
    broken = copy.deepcopy(rendered)
    production = _application(broken, "todo-production")
    production["spec"]["ignoreDifferences"] = [
        e for e in production["spec"]["ignoreDifferences"] if e["kind"] != "Service"
    ]
    assert gitops.application_problems(broken) == [
        "Application/argocd/todo-production: Canary/todo-production/svc-pingpong splits the "
        "traffic of Knative Service svc-pingpong, whose /spec/traffic ArgoCD does not ignore"
    ]
