"""The platform's rules over a rendered environment. Each check returns the problems it finds
(empty when the manifests comply), naming the object so the fix is obvious."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from manifest_checks.promtests import STREAMING_PATHS
from manifest_checks.render import Manifest, name_of, of_kind

INTERNAL_PATHS = ("/metrics", "/healthz", "/readyz", "/schema", "/asyncapi.json")
"""Operational endpoints every service serves (shared_runtime.web) and svc-todo's API documents:
reachable inside the cluster only."""

RUN_TO_COMPLETION = ("Job",)
"""Kinds whose containers do a task and exit: nothing routes to them, so no probes."""

GREETER_HOST = "svc-greeter"
GREETER_WEIGHTS = {"v1": 75, "v2": 25}


@dataclass(frozen=True)
class PodTemplate:
    owner: Manifest
    labels: dict[str, str]
    spec: dict[str, Any]
    needs_startup_probe: bool

    @property
    def namespace(self) -> str | None:
        return namespace_of(self.owner)


def namespace_of(manifest: Manifest) -> str | None:
    namespace = manifest.get("metadata", {}).get("namespace")
    return None if namespace is None else str(namespace)


def pod_templates(manifests: Iterable[Manifest]) -> Iterator[PodTemplate]:
    """Pods each workload kind would run, with the labels they would carry."""
    for m in manifests:
        kind, spec = m.get("kind"), m.get("spec", {})
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet") or (
            kind == "Rollout" and "template" in spec
        ):
            template = spec["template"]
            yield PodTemplate(m, template["metadata"].get("labels", {}), template["spec"], True)
        elif kind == "Job":
            template = spec["template"]
            yield PodTemplate(m, template["metadata"].get("labels", {}), template["spec"], False)
        elif kind == "Pod":
            yield PodTemplate(m, m["metadata"].get("labels", {}), spec, False)
        elif kind == "Service" and str(m.get("apiVersion", "")).startswith("serving.knative.dev"):
            template = spec["template"]
            yield PodTemplate(
                m, template.get("metadata", {}).get("labels", {}), template["spec"], True
            )


def _is_sidecar(container: dict[str, Any]) -> bool:
    return container.get("restartPolicy") == "Always"


def _container_problems(template: PodTemplate) -> Iterator[str]:
    pod_security = template.spec.get("securityContext", {})
    init = template.spec.get("initContainers", [])
    for container in [*template.spec.get("containers", []), *init]:
        where = f"{name_of(template.owner)} container {container.get('name')}"
        serving = container in template.spec.get("containers", [])
        if serving and template.owner.get("kind") not in RUN_TO_COMPLETION:
            wanted = ["readinessProbe", "livenessProbe"]
            if template.needs_startup_probe:
                wanted.append("startupProbe")
            for probe in wanted:
                if probe not in container:
                    yield f"{where}: no {probe}"
        resources = container.get("resources", {})
        for bound in ("requests", "limits"):
            for resource in ("cpu", "memory"):
                if resource not in resources.get(bound, {}):
                    yield f"{where}: no {resource} {bound[:-1]}"
        security = container.get("securityContext", {})
        if not security.get("runAsNonRoot", pod_security.get("runAsNonRoot")):
            yield f"{where}: runAsNonRoot is not true"
        if security.get("readOnlyRootFilesystem") is not True:
            yield f"{where}: root filesystem is writable"
        if security.get("allowPrivilegeEscalation") is not False:
            yield f"{where}: allowPrivilegeEscalation is not false"
        if "ALL" not in security.get("capabilities", {}).get("drop", []):
            yield f"{where}: capabilities are not all dropped"
        seccomp = security.get("seccompProfile", pod_security.get("seccompProfile", {}))
        if seccomp.get("type") != "RuntimeDefault":
            yield f"{where}: seccomp profile is not RuntimeDefault"
        if not serving and not _is_sidecar(container) and "readinessProbe" in container:
            yield f"{where}: an init container cannot have a readiness probe"


def workload_problems(manifests: Iterable[Manifest]) -> list[str]:
    """Probes, requests and limits, and the restricted security context on every container."""
    return [p for template in pod_templates(manifests) for p in _container_problems(template)]


_DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def image_problems(manifests: Iterable[Manifest]) -> list[str]:
    """Every image names a version (a tag other than `latest`, or a digest)."""
    problems = []
    for template in pod_templates(manifests):
        spec = template.spec
        for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
            image = str(container.get("image", ""))
            last = image.rsplit("/", 1)[-1]
            tag = last.split(":", 1)[1] if ":" in last else None
            if _DIGEST.search(image):
                continue
            if tag is None or tag == "latest":
                problems.append(
                    f"{name_of(template.owner)} container {container.get('name')}: "
                    f"image {image!r} has no version tag"
                )
    return problems


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in selector.items())


def service_problems(manifests: Iterable[Manifest]) -> list[str]:
    """Every Service selects the pods of a workload in its namespace."""
    manifests = list(manifests)
    templates = list(pod_templates(manifests))
    problems = []
    for service in of_kind(manifests, "Service"):
        if str(service.get("apiVersion", "")) != "v1":
            continue
        spec = service.get("spec", {})
        if spec.get("type") == "ExternalName":
            continue
        selector = spec.get("selector") or {}
        if not selector:
            problems.append(f"{name_of(service)}: has no selector")
        elif not any(
            t.namespace == namespace_of(service) and _selects(selector, t.labels) for t in templates
        ):
            problems.append(f"{name_of(service)}: selector {selector} matches no pod template")
    return problems


@dataclass(frozen=True)
class Reference:
    kind: str
    name: str
    key: str | None
    where: str


def _references(template: PodTemplate) -> Iterator[Reference]:
    owner = name_of(template.owner)
    spec = template.spec
    for container in [*spec.get("containers", []), *spec.get("initContainers", [])]:
        where = f"{owner} container {container.get('name')}"
        for source in container.get("envFrom", []):
            for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if (ref := source.get(field)) and not ref.get("optional"):
                    yield Reference(kind, ref["name"], None, where)
        for variable in container.get("env", []):
            value_from = variable.get("valueFrom", {})
            for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                if (ref := value_from.get(field)) and not ref.get("optional"):
                    yield Reference(
                        kind, ref["name"], ref["key"], f"{where} env {variable['name']}"
                    )
    for volume in spec.get("volumes", []):
        where = f"{owner} volume {volume.get('name')}"
        if (config_map := volume.get("configMap")) and not config_map.get("optional"):
            for item in config_map.get("items", [{"key": None}]):
                yield Reference("ConfigMap", config_map["name"], item["key"], where)
        if (secret := volume.get("secret")) and not secret.get("optional"):
            yield Reference("Secret", secret["secretName"], None, where)


def _available(manifests: list[Manifest]) -> dict[tuple[str, str | None, str], set[str] | None]:
    """(kind, namespace, name) -> the keys it holds, or None when they are not known in git."""
    found: dict[tuple[str, str | None, str], set[str] | None] = {}
    for m in of_kind(manifests, "ConfigMap", "Secret"):
        keys = {*m.get("data", {}), *m.get("binaryData", {}), *m.get("stringData", {})}
        found[(str(m["kind"]), namespace_of(m), m["metadata"]["name"])] = keys
    for external in of_kind(manifests, "ExternalSecret"):
        spec = external["spec"]
        name = spec.get("target", {}).get("name", external["metadata"]["name"])
        keys = {item["secretKey"] for item in spec.get("data", [])}
        found[("Secret", namespace_of(external), name)] = keys if not spec.get("dataFrom") else None
    return found


def reference_problems(manifests: Iterable[Manifest]) -> list[str]:
    """Every ConfigMap and Secret a pod reads exists (as a Secret made by an ExternalSecret, for
    secrets), with the keys it reads; so does the ConfigMap a Broker is configured by."""
    manifests = list(manifests)
    available = _available(manifests)
    references = [r for t in pod_templates(manifests) for r in _references(t)]
    namespaces = {
        (r.kind, r.name, r.key, r.where): namespace_of(t.owner)
        for t in pod_templates(manifests)
        for r in _references(t)
    }
    problems = []
    for reference in references:
        namespace = namespaces[(reference.kind, reference.name, reference.key, reference.where)]
        key = (reference.kind, namespace, reference.name)
        if key not in available:
            problems.append(f"{reference.where}: {reference.kind} {reference.name} does not exist")
        elif reference.key is not None and reference.key not in (available[key] or {reference.key}):
            problems.append(
                f"{reference.where}: {reference.kind} {reference.name} has no key {reference.key!r}"
            )
    for broker in of_kind(manifests, "Broker"):
        config = broker.get("spec", {}).get("config")
        if config and config.get("kind") == "ConfigMap":
            namespace = config.get("namespace", namespace_of(broker))
            if ("ConfigMap", namespace, config["name"]) not in available:
                problems.append(f"{name_of(broker)}: ConfigMap {config['name']} does not exist")
    return problems


def _short_host(host: str, namespace: str | None) -> str | None:
    """The Service a mesh host names: `svc`, `svc.ns`, `svc.ns.svc[.cluster.local]`."""
    parts = host.split(".")
    if len(parts) == 1:
        return parts[0]
    if parts[1] == namespace and (len(parts) == 2 or parts[2] == "svc"):
        return parts[0]
    return None


def _service_names(manifests: list[Manifest]) -> set[tuple[str | None, str]]:
    """Names a mesh host can resolve to: Services, and the Services Knative makes for its own."""
    return {(namespace_of(s), s["metadata"]["name"]) for s in of_kind(manifests, "Service")}


def _is_public(virtual_service: Manifest) -> bool:
    gateways = virtual_service.get("spec", {}).get("gateways", [])
    return any(g != "mesh" for g in gateways)


def host_problems(manifests: Iterable[Manifest]) -> list[str]:
    """Every mesh VirtualService host and every route destination is a Service of the namespace;
    every public host is served by the Gateway the VirtualService is bound to."""
    manifests = list(manifests)
    services = _service_names(manifests)
    gateways = {
        (namespace_of(g), g["metadata"]["name"]): {
            host for server in g["spec"]["servers"] for host in server.get("hosts", [])
        }
        for g in of_kind(manifests, "Gateway")
    }
    problems = []
    for vs in of_kind(manifests, "VirtualService"):
        namespace, spec = namespace_of(vs), vs.get("spec", {})
        if _is_public(vs):
            for gateway in spec.get("gateways", []):
                served = gateways.get((namespace, gateway))
                if served is None:
                    problems.append(f"{name_of(vs)}: Gateway {gateway} does not exist")
                    continue
                problems.extend(
                    f"{name_of(vs)}: host {h} is not served by Gateway {gateway}"
                    for h in spec.get("hosts", [])
                    if h not in served
                )
        else:
            for host in spec.get("hosts", []):
                if (namespace, _short_host(host, namespace)) not in services:
                    problems.append(f"{name_of(vs)}: host {host} is not a Service")
        for route in spec.get("http", []):
            for destination in route.get("route", []):
                host = destination["destination"]["host"]
                if (namespace, _short_host(host, namespace)) not in services:
                    problems.append(f"{name_of(vs)}: destination {host} is not a Service")
    return problems


def _subsets_by_host(manifests: list[Manifest]) -> dict[tuple[str | None, str], Manifest]:
    return {
        (namespace_of(dr), _short_host(dr["spec"]["host"], namespace_of(dr)) or ""): dr
        for dr in of_kind(manifests, "DestinationRule")
    }


def greeter_split_problems(manifests: Iterable[Manifest]) -> list[str]:
    """The greeter VirtualService sends v1 75% and v2 25%; weights of every route sum to 100."""
    manifests = list(manifests)
    problems = []
    greeter_routes = 0
    for vs in of_kind(manifests, "VirtualService"):
        namespace = namespace_of(vs)
        for route in vs.get("spec", {}).get("http", []):
            destinations = route.get("route", [])
            if len(destinations) > 1:
                total = sum(d.get("weight", 0) for d in destinations)
                if total != 100:
                    problems.append(
                        f"{name_of(vs)} route {route.get('name')}: weights sum to {total}"
                    )
            hosts = {_short_host(d["destination"]["host"], namespace) for d in destinations}
            if hosts == {GREETER_HOST}:
                greeter_routes += 1
                weights = {d["destination"].get("subset"): d.get("weight", 0) for d in destinations}
                if weights != GREETER_WEIGHTS:
                    problems.append(
                        f"{name_of(vs)} route {route.get('name')}: greeter split is {weights}, "
                        f"want {GREETER_WEIGHTS}"
                    )
    if any(_short_host(h, None) == GREETER_HOST for h in _hosts_of_services(manifests)) and (
        greeter_routes == 0
    ):
        problems.append("no VirtualService splits svc-greeter traffic")
    return problems


def _hosts_of_services(manifests: list[Manifest]) -> Iterator[str]:
    return (s["metadata"]["name"] for s in of_kind(manifests, "Service"))


def subset_problems(manifests: Iterable[Manifest]) -> list[str]:
    """Every DestinationRule subset matches the pods of a Deployment behind its host; every
    subset a route names is defined."""
    manifests = list(manifests)
    templates = list(pod_templates(manifests))
    services = {(namespace_of(s), s["metadata"]["name"]): s for s in of_kind(manifests, "Service")}
    problems = []
    rules = _subsets_by_host(manifests)
    for (namespace, host), rule in rules.items():
        service = services.get((namespace, host))
        selector = (service or {}).get("spec", {}).get("selector", {})
        for subset in rule["spec"].get("subsets", []):
            wanted = {**selector, **subset.get("labels", {})}
            if not any(
                t.owner["kind"] in ("Deployment", "Rollout")
                and t.namespace == namespace
                and _selects(wanted, t.labels)
                for t in templates
            ):
                problems.append(
                    f"{name_of(rule)} subset {subset['name']}: labels {wanted} match no Deployment"
                )
    for vs in of_kind(manifests, "VirtualService"):
        namespace = namespace_of(vs)
        for route in vs.get("spec", {}).get("http", []):
            for destination in route.get("route", []):
                target = destination["destination"]
                if "subset" not in target:
                    continue
                subsets = rules.get((namespace, _short_host(target["host"], namespace) or ""), {})
                defined = {s["name"] for s in subsets.get("spec", {}).get("subsets", [])}
                if target["subset"] not in defined:
                    problems.append(
                        f"{name_of(vs)}: subset {target['subset']} of {target['host']} is not "
                        "defined by a DestinationRule"
                    )
    return problems


def _reaches(match: dict[str, Any], rewrite: str | None, path: str) -> bool:
    """Would a request matching `match` (then rewritten) arrive at the backend as `path`?"""
    uri = match.get("uri")
    if uri is None:
        return True
    if "exact" in uri:
        arrives = rewrite if rewrite is not None else uri["exact"]
        return bool(arrives == path)
    if "prefix" in uri:
        prefix = uri["prefix"]
        if rewrite is not None:
            return path.startswith(rewrite)
        return path.startswith(prefix) or path == prefix.rstrip("/")
    if "regex" in uri:
        if rewrite is not None:
            return path.startswith(rewrite)
        return bool(re.fullmatch(uri["regex"], path))
    return True


def public_route_problems(manifests: Iterable[Manifest]) -> list[str]:
    """No route of a public (Gateway-bound) VirtualService delivers an internal path."""
    problems = []
    for vs in of_kind(manifests, "VirtualService"):
        if not _is_public(vs):
            continue
        for route in vs.get("spec", {}).get("http", []):
            rewrite = route.get("rewrite", {}).get("uri")
            matches = route.get("match") or [{}]
            for match in matches:
                for path in INTERNAL_PATHS:
                    if _reaches(match, rewrite, path):
                        problems.append(
                            f"{name_of(vs)} route {route.get('name')}: {match or 'match-all'} "
                            f"reaches internal path {path}"
                        )
    return problems


def streaming_route_problems(manifests: Iterable[Manifest]) -> list[str]:
    """No public route to a streaming path (server-sent events) has a finite timeout: Envoy's
    route timeout spans the whole response, so it would cut every open stream."""
    streaming = {path for paths in STREAMING_PATHS.values() for path in paths}
    problems = []
    for vs in of_kind(manifests, "VirtualService"):
        if not _is_public(vs):
            continue
        for route in vs.get("spec", {}).get("http", []):
            timeout = route.get("timeout")
            rewrite = route.get("rewrite", {}).get("uri")
            cut = sorted(
                path
                for path in streaming
                for match in route.get("match") or [{}]
                if _reaches(match, rewrite, path)
            )
            if cut and timeout not in (None, "0s"):
                problems.append(
                    f"{name_of(vs)} route {route.get('name')}: its {timeout} timeout cuts the "
                    f"streams of {', '.join(cut)}"
                )
    return problems


def statefulset_problems(manifests: Iterable[Manifest]) -> list[str]:
    """Every StatefulSet's `serviceName` is a headless Service of its namespace that selects its
    pods: the stable per-pod DNS names (postgres-0, nats-0…) come from that Service only."""
    manifests = list(manifests)
    services = {(namespace_of(s), s["metadata"]["name"]): s for s in of_kind(manifests, "Service")}
    problems = []
    for statefulset in of_kind(manifests, "StatefulSet"):
        name = statefulset["spec"].get("serviceName")
        service = services.get((namespace_of(statefulset), name))
        labels = statefulset["spec"]["template"]["metadata"].get("labels", {})
        if service is None:
            problems.append(f"{name_of(statefulset)}: serviceName {name} is not a Service")
        elif service["spec"].get("clusterIP") != "None":
            problems.append(f"{name_of(statefulset)}: serviceName {name} is not headless")
        elif not _selects(service["spec"].get("selector", {}), labels):
            problems.append(f"{name_of(statefulset)}: Service {name} does not select its pods")
    return problems


KNATIVE_USER_PORT = "user-port"
"""The name Knative gives the user container's port, whatever the manifest calls it."""


def _port_names(template: PodTemplate) -> set[str]:
    if template.owner.get("kind") == "Service":
        return {KNATIVE_USER_PORT}
    return {
        str(port.get("name"))
        for container in template.spec.get("containers", [])
        for port in container.get("ports", [])
    }


def _selector_matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not _selects(selector.get("matchLabels", {}), labels):
        return False
    for expression in selector.get("matchExpressions", []):
        value, operator = labels.get(expression["key"]), expression["operator"]
        holds = {
            "In": value in expression.get("values", []),
            "NotIn": value not in expression.get("values", []),
            "Exists": value is not None,
            "DoesNotExist": value is None,
        }
        if not holds[operator]:
            return False
    return True


def podmonitor_problems(manifests: Iterable[Manifest]) -> list[str]:
    """Every PodMonitor scrapes something: it selects pods of its namespace, and each of them
    has the named port it scrapes (a NATS without its exporter, say, would go unmonitored)."""
    manifests = list(manifests)
    templates = list(pod_templates(manifests))
    problems = []
    for monitor in of_kind(manifests, "PodMonitor"):
        selected = [
            t
            for t in templates
            if t.namespace == namespace_of(monitor)
            and _selector_matches(monitor["spec"]["selector"], t.labels)
        ]
        if not selected:
            problems.append(f"{name_of(monitor)}: selects no pod")
        for endpoint in monitor["spec"].get("podMetricsEndpoints", []):
            for template in selected:
                if endpoint.get("port") not in _port_names(template):
                    problems.append(
                        f"{name_of(monitor)}: {name_of(template.owner)} has no port "
                        f"{endpoint.get('port')}"
                    )
    return problems


POD_SECURITY_LEVEL = "restricted"


def namespace_problems(manifests: Iterable[Manifest]) -> list[str]:
    """Every namespace an environment creates enforces the restricted Pod Security Standard, so
    the API server itself refuses a pod that drifts from the container rules above."""
    label = "pod-security.kubernetes.io/enforce"
    return [
        f"{name_of(namespace)}: {label} is not {POD_SECURITY_LEVEL}"
        for namespace in of_kind(manifests, "Namespace")
        if namespace["metadata"].get("labels", {}).get(label) != POD_SECURITY_LEVEL
    ]


Check = Callable[[Iterable[Manifest]], list[str]]

CHECKS: dict[str, Check] = {
    "workloads": workload_problems,
    "images": image_problems,
    "services": service_problems,
    "references": reference_problems,
    "hosts": host_problems,
    "greeter-split": greeter_split_problems,
    "subsets": subset_problems,
    "public-routes": public_route_problems,
    "streaming-routes": streaming_route_problems,
    "statefulsets": statefulset_problems,
    "namespaces": namespace_problems,
    "podmonitors": podmonitor_problems,
}
"""Every policy check by name: all of them hold for each deployable rendering."""
