"""What ArgoCD would refuse or fight over: each Application's rendering against the AppProject that
governs it (kinds, destinations, source repository), and sync settings against the autoscalers
that own replica counts at run time. Schemas cannot see either."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from manifest_checks.render import Manifest, name_of, of_kind

GITOPS = "gitops"

CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "PersistentVolume",
        "StorageClass",
        "PriorityClass",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "ClusterSecretStore",
        "ClusterAnalysisTemplate",
        "ClusterIssuer",
    }
)
"""Kinds ArgoCD checks against `clusterResourceWhitelist`; every other kind is namespaced."""


def group_of(manifest: Manifest) -> str:
    group, _, _ = str(manifest.get("apiVersion", "")).rpartition("/")
    return group


def _matches(entries: Iterable[Mapping[str, str]], group: str, kind: str) -> bool:
    return any(
        entry.get("group") in (group, "*") and entry.get("kind") in (kind, "*") for entry in entries
    )


def _destination_allowed(project: Manifest, destination: Mapping[str, Any]) -> bool:
    for allowed in project["spec"].get("destinations", []):
        cluster_ok = allowed.get("name", "*") in ("*", destination.get("name")) or allowed.get(
            "server"
        ) in ("*", destination.get("server"))
        namespace_ok = allowed.get("namespace") in ("*", destination.get("namespace"))
        if cluster_ok and namespace_ok:
            return True
    return False


def kind_problems(
    project: Manifest, application: Manifest, manifests: Iterable[Manifest]
) -> list[str]:
    """Every object `application` renders is of a kind `project` allows, and lands in a namespace
    the project lets the application deploy to."""
    spec = project["spec"]
    destination = application["spec"]["destination"]
    problems = []
    for manifest in manifests:
        group, kind = group_of(manifest), str(manifest.get("kind"))
        cluster = kind in CLUSTER_SCOPED
        allowed = spec.get("clusterResourceWhitelist" if cluster else "namespaceResourceWhitelist")
        denied = spec.get("clusterResourceBlacklist" if cluster else "namespaceResourceBlacklist")
        where = f"{name_of(application)} renders {name_of(manifest)}"
        if not _matches(allowed or [], group, kind) or _matches(denied or [], group, kind):
            scope = "cluster" if cluster else "namespaced"
            problems.append(
                f"{where}: AppProject {project['metadata']['name']} does not allow "
                f"{scope} kind {group or 'core'}/{kind}"
            )
        namespace = manifest.get("metadata", {}).get("namespace", destination.get("namespace"))
        if not cluster and not _destination_allowed(
            project, {**destination, "namespace": namespace}
        ):
            problems.append(f"{where}: namespace {namespace} is not a destination of the project")
    return problems


def application_problems(rendered: Mapping[str, list[Manifest]]) -> list[str]:
    """Each Application of the gitops folder against its AppProject and its rendered source."""
    gitops = rendered.get(GITOPS, [])
    projects = {p["metadata"]["name"]: p for p in of_kind(gitops, "AppProject")}
    problems = []
    for application in of_kind(gitops, "Application"):
        spec = application["spec"]
        project = projects.get(spec.get("project", "default"))
        if project is None:
            problems.append(f"{name_of(application)}: AppProject {spec.get('project')} not found")
            continue
        source = spec["source"]
        if source["repoURL"] not in project["spec"].get("sourceRepos", []):
            problems.append(f"{name_of(application)}: repository {source['repoURL']} not allowed")
        if not _destination_allowed(project, spec["destination"]):
            problems.append(
                f"{name_of(application)}: destination {spec['destination']} not allowed"
            )
        manifests = rendered.get(source["path"])
        if manifests is None:
            problems.append(f"{name_of(application)}: path {source['path']} is not a kustomization")
            continue
        problems.extend(kind_problems(project, application, manifests))
        problems.extend(sync_problems(application, manifests))
    return problems


def sync_problems(application: Manifest, manifests: Iterable[Manifest]) -> list[str]:
    """Replica counts an autoscaler owns, and the traffic split of a Knative Service a Flagger
    canary drives, are ignored by ArgoCD, and the ignore is respected on sync
    (`RespectIgnoreDifferences=true`); otherwise every sync resets them mid-rollout."""
    spec = application["spec"]
    ignored = {
        (entry.get("group", ""), entry["kind"])
        for entry in spec.get("ignoreDifferences", [])
        if "/spec/replicas" in entry.get("jsonPointers", [])
    }
    options = spec.get("syncPolicy", {}).get("syncOptions", [])
    problems = []
    if spec.get("ignoreDifferences") and "RespectIgnoreDifferences=true" not in options:
        problems.append(
            f"{name_of(application)}: ignoreDifferences without RespectIgnoreDifferences=true "
            "is overwritten on every sync"
        )
    traffic_ignored = {
        (entry.get("group", ""), entry["kind"], entry.get("name"))
        for entry in spec.get("ignoreDifferences", [])
        if "/spec/traffic" in entry.get("jsonPointers", [])
    }
    for canary in of_kind(manifests, "Canary"):
        target = canary["spec"]["targetRef"]
        group = str(target.get("apiVersion", "")).rpartition("/")[0]
        if group == "serving.knative.dev" and not (
            {(group, target["kind"], target["name"]), (group, target["kind"], None)}
            & traffic_ignored
        ):
            problems.append(
                f"{name_of(application)}: {name_of(canary)} splits the traffic of Knative "
                f"Service {target['name']}, whose /spec/traffic ArgoCD does not ignore"
            )
    for autoscaler in of_kind(manifests, "HorizontalPodAutoscaler"):
        target = autoscaler["spec"]["scaleTargetRef"]
        group = str(target.get("apiVersion", "")).rpartition("/")[0]
        if (group, target["kind"]) not in ignored:
            problems.append(
                f"{name_of(application)}: {name_of(autoscaler)} scales {target['kind']} "
                f"{target['name']}, whose /spec/replicas ArgoCD does not ignore"
            )
    return problems
