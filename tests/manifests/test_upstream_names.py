"""Names the manifests take from upstream components, each checked against that component's own
source (docs/deploy.md, "Upstream names"). A name no one checked fails here: a wrong service
account in an AuthorizationPolicy denies the real caller, a template variable Flagger does not
provide breaks every canary analysis, a probe on a path the exporter does not serve keeps NATS
out of its Service."""

from __future__ import annotations

import re

from manifest_checks import render

Rendered = dict[str, list[render.Manifest]]

CHECKED_PRINCIPALS = {
    # knative/serving config/core/deployments/activator.yaml, autoscaler.yaml
    "cluster.local/ns/knative-serving/sa/controller",
    # knative/eventing config/brokers/mt-channel-broker/deployments/broker-filter.yaml
    "cluster.local/ns/knative-eventing/sa/mt-broker-filter",
    # knative-extensions/eventing-natss config/jetstream/501-jsm-controller.yaml
    "cluster.local/ns/knative-eventing/sa/jetstream-ch-controller",
    "cluster.local/ns/knative-eventing/sa/jetstream-ch-dispatcher",
    # nats-io/k8s helm/charts/nack/templates/_helpers.tpl (jsc.serviceAccountName)
    "cluster.local/ns/nack/sa/jetstream-controller",
}
UPSTREAM_NAMESPACES = ("knative-serving", "knative-eventing", "nack")

FLAGGER_VARIABLES = {"name", "namespace", "target", "service", "ingress", "route", "interval"}
"""fluxcd/flagger pkg/apis/flagger/v1beta1/metric.go (MetricTemplateModel.TemplateFunctions);
`route` with the Knative provider (pkg/metrics/observers/knative.go); plus `variables.*`."""
_TEMPLATE = re.compile(r"\{\{\s*([\w.]+)\s*\}\}")

EXPORTER_SCRAPE_PATH = "/metrics"
"""nats-io/prometheus-nats-exporter exporter/exporter.go: it serves the scrape path only."""


def test_every_upstream_principal_is_one_checked_against_its_source(rendered: Rendered) -> None:
    used = {
        principal
        for name in render.ENVIRONMENTS
        for policy in render.of_kind(rendered[name], "AuthorizationPolicy")
        for rule in policy["spec"].get("rules", [])
        for source in rule.get("from", [])
        for principal in source["source"].get("principals", [])
        if any(f"/ns/{ns}/" in principal for ns in UPSTREAM_NAMESPACES)
    }
    assert used
    assert used - CHECKED_PRINCIPALS == set()


def test_metric_templates_use_only_variables_flagger_fills(rendered: Rendered) -> None:
    templates = list(render.of_kind(rendered["k8s/overlays/production"], "MetricTemplate"))
    used = {v for t in templates for v in _TEMPLATE.findall(t["spec"]["query"])}
    assert templates
    assert {v for v in used if not v.startswith("variables.")} <= FLAGGER_VARIABLES
    assert "route" in used, "the canary revision, not every revision of the service"


def test_the_nats_exporter_is_probed_only_on_what_it_serves(rendered: Rendered) -> None:
    containers = [
        container
        for template in render.of_kind(rendered["k8s/overlays/production"], "StatefulSet")
        for container in template["spec"]["template"]["spec"]["containers"]
        if "prometheus-nats-exporter" in container["image"]
    ]
    probes = [c[p] for c in containers for p in c if p.endswith("Probe")]
    assert containers
    assert probes
    assert all(
        probe.get("httpGet", {}).get("path", EXPORTER_SCRAPE_PATH) == EXPORTER_SCRAPE_PATH
        for probe in probes
    )
