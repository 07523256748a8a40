"""Who may call whom, computed by network-config-analyzer (NCA) from an environment's rendered
NetworkPolicies and Istio AuthorizationPolicies together: every call the system makes must be
allowed by both layers, and the named forbidden calls must be denied.

NCA needs pods, so the rendering is turned into a small cluster: the environment's workloads
(Knative Services as the Deployments Knative makes of them) plus the platform's own callers
(ingress gateway, Knative's activator, autoscaler and Broker filter, Prometheus, NACK, DNS) with
the labels and service accounts their upstream installs give them, and an intruder: an
arbitrary meshed workload in another namespace.
"""

from __future__ import annotations

import copy
import re
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

import yaml

from manifest_checks.render import Manifest, of_kind
from manifest_checks.tools import MissingTool

APP = "APP"
"""Stands for the environment's namespace in the calls below."""


@dataclass(frozen=True)
class PlatformPod:
    namespace: str
    name: str
    labels: dict[str, str]
    service_account: str


PLATFORM = (
    PlatformPod(
        "istio-system",
        "istio-ingressgateway",
        {"istio": "ingressgateway", "app": "istio-ingressgateway"},
        "istio-ingressgateway-service-account",
    ),
    PlatformPod("istio-system", "istiod", {"app": "istiod"}, "istiod"),
    PlatformPod("knative-serving", "activator", {"app": "activator"}, "controller"),
    PlatformPod("knative-serving", "autoscaler", {"app": "autoscaler"}, "controller"),
    PlatformPod(
        "knative-eventing",
        "mt-broker-filter",
        {"eventing.knative.dev/brokerRole": "filter"},
        "mt-broker-filter",
    ),
    PlatformPod(
        "knative-eventing",
        "jetstream-ch-dispatcher",
        {
            "messaging.knative.dev/channel": "nats-jetstream-channel",
            "messaging.knative.dev/role": "dispatcher",
        },
        "jetstream-ch-dispatcher",
    ),
    PlatformPod("monitoring", "prometheus", {"app.kubernetes.io/name": "prometheus"}, "prometheus"),
    PlatformPod(
        "nack", "jetstream-controller", {"app.kubernetes.io/name": "nack"}, "jetstream-controller"
    ),
    PlatformPod("kube-system", "kube-dns", {"k8s-app": "kube-dns"}, "coredns"),
    PlatformPod(
        "knative-eventing",
        "jetstream-ch-controller",
        {
            "messaging.knative.dev/channel": "nats-jetstream-channel",
            "messaging.knative.dev/role": "controller",
        },
        "jetstream-ch-controller",
    ),
    PlatformPod(
        "flagger-system", "flagger-loadtester", {"app": "flagger-loadtester"}, "flagger-loadtester"
    ),
    PlatformPod("elsewhere", "intruder", {"app": "intruder"}, "default"),
)


@dataclass(frozen=True)
class Call:
    """`source` calls `destination` (`namespace/workload`) on a TCP port, with an HTTP method
    and path when the call is HTTP (the mesh's policies read both)."""

    source: str
    destination: str
    port: int
    method: str | None = None
    path: str | None = None

    def __str__(self) -> str:
        http = f" {self.method} {self.path}" if self.method else ""
        return f"{self.source} -> {self.destination}:{self.port}{http}"


def _metrics(workload: str, port: int) -> Call:
    return Call("monitoring/prometheus", f"{APP}/{workload}", port, "GET", "/metrics")


GATEWAY = "istio-system/istio-ingressgateway"
ACTIVATOR = "knative-serving/activator"
BROKER_FILTER = "knative-eventing/mt-broker-filter"
INTRUDER = "elsewhere/intruder"

ALLOWED = (
    # The browser, through the ingress gateway.
    Call(GATEWAY, f"{APP}/svc-todo", 8000, "GET", "/"),
    Call(GATEWAY, f"{APP}/svc-todo", 8000, "GET", "/api/todos"),
    Call(GATEWAY, f"{APP}/svc-todo", 8000, "POST", "/api/todos"),
    Call(GATEWAY, f"{APP}/svc-todo", 8000, "PUT", "/api/todos/0b7c5a84"),
    Call(GATEWAY, f"{APP}/svc-todo", 8000, "DELETE", "/api/todos/0b7c5a84"),
    Call(GATEWAY, f"{APP}/svc-todo", 8000, "GET", "/fragments/todos"),
    Call(GATEWAY, f"{APP}/svc-todo", 8000, "GET", "/events"),
    Call(GATEWAY, f"{APP}/svc-todo", 8000, "GET", "/image"),
    Call(GATEWAY, f"{APP}/svc-todo", 8000, "GET", "/static/app.js"),
    Call(GATEWAY, f"{APP}/svc-logoutput", 8006, "GET", "/"),
    # The log-output page: pingpong through the activator (no pod to spare) or straight to a
    # pod's queue-proxy, and the greeter's two versions.
    Call(f"{APP}/svc-logoutput", ACTIVATOR, 8012, "GET", "/pings"),
    Call(ACTIVATOR, f"{APP}/svc-pingpong", 8012, "GET", "/pings"),
    Call(f"{APP}/svc-logoutput", f"{APP}/svc-pingpong", 8012, "GET", "/pings"),
    Call(f"{APP}/svc-logoutput", f"{APP}/svc-greeter-v1", 8003, "GET", "/"),
    Call(f"{APP}/svc-logoutput", f"{APP}/svc-greeter-v2", 8004, "GET", "/"),
    # The Broker's filter delivers the CloudEvents that wake svc-wikipedia.
    Call(BROKER_FILTER, f"{APP}/svc-wikipedia", 8012, "POST", "/"),
    Call(ACTIVATOR, f"{APP}/svc-wikipedia", 8012, "POST", "/"),
    Call("knative-serving/autoscaler", f"{APP}/svc-pingpong", 9090, "GET", "/metrics"),
    # NATS and PostgreSQL.
    Call(f"{APP}/svc-todo", f"{APP}/nats", 4222),
    Call(f"{APP}/svc-broadcaster", f"{APP}/nats", 4222),
    Call(f"{APP}/svc-wikipedia", f"{APP}/nats", 4222),
    # Knative's JetStream channel, through its leaf node (nats/knative-leaf.conf).
    Call("knative-eventing/jetstream-ch-dispatcher", f"{APP}/nats-knative", 4222),
    Call("knative-eventing/jetstream-ch-controller", f"{APP}/nats-knative", 4222),
    Call(f"{APP}/nats-knative", f"{APP}/nats", 7422),
    Call("nack/jetstream-controller", f"{APP}/nats", 4222),
    Call(f"{APP}/nats", f"{APP}/nats", 6222),
    Call(f"{APP}/svc-todo", f"{APP}/postgres", 5432),
    Call(f"{APP}/svc-pingpong", f"{APP}/postgres", 5432),
    Call(f"{APP}/svc-todo", "kube-system/kube-dns", 53),
    # Prometheus reads every /metrics.
    _metrics("svc-todo", 8000),
    _metrics("svc-broadcaster", 8001),
    _metrics("svc-wikipedia", 8002),
    _metrics("svc-greeter-v1", 8003),
    _metrics("svc-greeter-v2", 8004),
    _metrics("svc-pingpong", 8005),
    _metrics("svc-logoutput", 8006),
    _metrics("nats", 7777),
)
"""Every call the system makes."""

DENIED = (
    # From outside, the internal paths of svc-todo.
    *(Call(GATEWAY, f"{APP}/svc-todo", 8000, "GET", p) for p in ("/metrics", "/readyz", "/schema")),
    Call(GATEWAY, f"{APP}/svc-logoutput", 8006, "GET", "/metrics"),
    # An arbitrary workload of the mesh, elsewhere or in the namespace itself.
    Call(INTRUDER, f"{APP}/svc-wikipedia", 8012, "POST", "/"),
    Call(f"{APP}/svc-greeter-v1", f"{APP}/svc-wikipedia", 8012, "POST", "/"),
    Call(INTRUDER, f"{APP}/svc-todo", 8000, "POST", "/api/todos"),
    Call(INTRUDER, f"{APP}/svc-pingpong", 8012, "GET", "/pingpong"),
    Call(INTRUDER, f"{APP}/nats", 4222),
    Call(INTRUDER, f"{APP}/nats-knative", 4222),
    Call(f"{APP}/svc-todo", f"{APP}/nats-knative", 4222),
    Call("knative-eventing/jetstream-ch-dispatcher", f"{APP}/nats", 4222),
    Call(INTRUDER, f"{APP}/postgres", 5432),
    # Platform callers beyond their purpose.
    Call(BROKER_FILTER, f"{APP}/svc-pingpong", 8012, "GET", "/pingpong"),
    Call(ACTIVATOR, f"{APP}/svc-wikipedia", 8012, "DELETE", "/"),
    Call("monitoring/prometheus", f"{APP}/svc-todo", 8000, "GET", "/api/todos"),
    # Services beyond their dependencies.
    Call(f"{APP}/svc-greeter-v1", f"{APP}/nats", 4222),
    Call(f"{APP}/svc-broadcaster", f"{APP}/postgres", 5432),
    Call(f"{APP}/svc-logoutput", f"{APP}/svc-todo", 8000, "GET", "/api/todos"),
)
"""Calls that must not happen, each denied by at least one layer."""

LOADTESTER = "flagger-system/flagger-loadtester"
CANARY_LOAD = Call(LOADTESTER, f"{APP}/svc-pingpong", 8012, "GET", "/pings")
BY_ENVIRONMENT = {
    # Production's pingpong canary: Flagger's load tester reads the count, and only that.
    "todo-production": (
        (CANARY_LOAD,),
        (Call(LOADTESTER, f"{APP}/svc-pingpong", 8012, "GET", "/pingpong"),),
    ),
    # Staging's validation Job: the public hostnames (through the ingress gateway) and
    # Prometheus, and none of the services' insides.
    "todo-staging": (
        (
            Call(f"{APP}/staging-validation", GATEWAY, 8443),
            Call(f"{APP}/staging-validation", "monitoring/prometheus", 9090),
        ),
        (
            CANARY_LOAD,
            Call(f"{APP}/staging-validation", f"{APP}/svc-todo", 8000, "GET", "/api/todos"),
            Call(f"{APP}/staging-validation", f"{APP}/nats", 4222),
            Call(f"{APP}/staging-validation", f"{APP}/postgres", 5432),
        ),
    ),
}
"""Calls (allowed, denied) of one environment only."""

_WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
_POLICY_KINDS = ("NetworkPolicy", "AuthorizationPolicy", "PeerAuthentication")


def _namespace(name: str) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
    }


def cluster_model(manifests: Iterable[Manifest]) -> tuple[str, list[Manifest]]:
    """The environment's namespace, and what NCA reads: namespaces, workloads, policies (copies:
    the rendering is left as it was)."""
    manifests = copy.deepcopy(list(manifests))
    [namespace] = of_kind(manifests, "Namespace")
    name = namespace["metadata"]["name"]
    model: list[Manifest] = []
    for item in of_kind(manifests, "Namespace"):
        labels = {**item["metadata"].get("labels", {}), "kubernetes.io/metadata.name": name}
        model.append({**item, "metadata": {**item["metadata"], "labels": labels}})
    model += [_namespace(n) for n in sorted({p.namespace for p in PLATFORM})]
    model += list(of_kind(manifests, *_POLICY_KINDS))
    # A Rollout runs the pods of the Deployment it refers to (which itself keeps none).
    rollout_replicas = {
        r["spec"]["workloadRef"]["name"]: r["spec"].get("replicas", 1)
        for r in of_kind(manifests, "Rollout")
        if "workloadRef" in r["spec"]
    }
    for workload in of_kind(manifests, *_WORKLOAD_KINDS):
        if workload["metadata"]["name"] in rollout_replicas:
            spec = {**workload["spec"], "replicas": rollout_replicas[workload["metadata"]["name"]]}
            workload = {**workload, "spec": spec}
        model.append(workload)
    for service in of_kind(manifests, "Service"):
        if str(service.get("apiVersion", "")).startswith("serving.knative.dev/"):
            template = service["spec"]["template"]
            labels = template["metadata"]["labels"]
            model.append(
                {
                    "apiVersion": "apps/v1",
                    "kind": "Deployment",
                    "metadata": {"name": service["metadata"]["name"], "namespace": name},
                    "spec": {
                        "selector": {"matchLabels": labels},
                        "template": {"metadata": {"labels": labels}, "spec": template["spec"]},
                    },
                }
            )
    for pod in PLATFORM:
        model.append(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod.name, "namespace": pod.namespace, "labels": pod.labels},
                "spec": {
                    "serviceAccountName": pod.service_account,
                    "containers": [{"name": pod.name, "image": f"{pod.name}:1"}],
                },
            }
        )
    for item in model:
        if item["kind"] != "Namespace":
            item["metadata"].setdefault("namespace", name)
    return name, model


class Analysis:
    """NCA's connectivity of one cluster model: the connections both layers allow."""

    def __init__(self, model: list[Manifest]) -> None:
        try:
            from nca.NetworkConfig.ResourcesHandler import ResourcesHandler
            from nca.Utils.NcaLogger import NcaLogger
        except ImportError as error:
            raise MissingTool(
                "network-config-analyzer not installed: make venv (pip install --no-deps "
                "network-config-analyzer==2.1.0 and its dependencies in requirements-dev.txt)"
            ) from error

        with tempfile.TemporaryDirectory() as directory:
            path = str(Path(directory) / "cluster.yaml")
            Path(path).write_text(yaml.safe_dump_all(model))
            # NCA prints style advice about its input (a deny-all `podSelector: {}` "should
            # better be removed"); it is not a finding of this check, so it stays quiet.
            with mock.patch.object(NcaLogger, "log_message"):
                config = ResourcesHandler().get_network_config(None, None, None, [path])
                self._allowed = config.allowed_connections().all_allowed_conns
        self._peers = list(config.peer_container.get_all_peers_group())

    def pods(self, workload: str) -> list[Any]:
        """NCA's pods of `namespace/workload` (it names them `<workload>-<n>`)."""
        namespace, name = workload.split("/")
        pattern = re.compile(rf"{re.escape(namespace)}/{re.escape(name)}(-\d+)?")
        return [p for p in self._peers if pattern.fullmatch(str(p.full_name()))]

    def allows(self, call: Call, source: Any, destination: Any) -> bool:
        from nca.CoreDS.ConnectivityProperties import ConnectivityProperties
        from nca.CoreDS.MethodSet import MethodSet
        from nca.CoreDS.MinDFA import MinDFA
        from nca.CoreDS.Peer import PeerSet
        from nca.CoreDS.PortSet import PortSet
        from nca.CoreDS.ProtocolSet import ProtocolSet

        ports = PortSet()
        ports.add_port(call.port)
        cube: dict[str, Any] = {
            "src_peers": PeerSet({source}),
            "dst_peers": PeerSet({destination}),
            "protocols": ProtocolSet.get_protocol_set_with_single_protocol("TCP"),
            "dst_ports": ports,
        }
        if call.method is not None and call.path is not None:
            methods = MethodSet()
            methods.add_method(call.method)
            cube["methods"] = methods
            cube["paths"] = MinDFA.dfa_from_regex(re.escape(call.path))
        wanted = ConnectivityProperties.make_conn_props_from_dict(cube)
        return bool(wanted.contained_in(self._allowed))


def _resolved(calls: Iterable[Call], namespace: str) -> Iterator[Call]:
    for call in calls:
        yield Call(
            call.source.replace(APP, namespace),
            call.destination.replace(APP, namespace),
            call.port,
            call.method,
            call.path,
        )


def connectivity_problems(
    manifests: Iterable[Manifest],
    allowed: Iterable[Call] | None = None,
    denied: Iterable[Call] | None = None,
) -> list[str]:
    """Each allowed call is allowed from every pod of its source to every pod of its
    destination; each denied call is denied for all of them. By default: the system's calls,
    and those of the environment the manifests render."""
    namespace, model = cluster_model(manifests)
    own_allowed, own_denied = BY_ENVIRONMENT.get(namespace, ((), ()))
    allowed = [*ALLOWED, *own_allowed] if allowed is None else allowed
    denied = [*DENIED, *own_denied] if denied is None else denied
    analysis = Analysis(model)
    problems = []
    for expected, calls in ((True, allowed), (False, denied)):
        for call in _resolved(calls, namespace):
            sources, destinations = analysis.pods(call.source), analysis.pods(call.destination)
            if not sources or not destinations:
                problems.append(f"{call}: no such workload in the environment")
                continue
            outcomes = {analysis.allows(call, s, d) for s in sources for d in destinations}
            if outcomes != {expected}:
                verdict = "is not allowed" if expected else "is not denied"
                problems.append(f"{call} {verdict}")
    return problems
