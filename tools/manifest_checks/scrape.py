"""A PodMonitor's relabelling, as prometheus-operator generates it, applied to one pod: the labels
its samples get. Lets a local Prometheus scrape a local process exactly as the cluster would."""

from __future__ import annotations

import re

from manifest_checks.render import Manifest


def sanitized(label: str) -> str:
    """Kubernetes label name -> Prometheus label name (`rollouts-pod-template-hash` ->
    `rollouts_pod_template_hash`)."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", label)


def target_labels(
    monitor: Manifest, *, namespace: str, pod: str, container: str, pod_labels: dict[str, str]
) -> dict[str, str]:
    """The target labels of `pod` under `monitor`'s first endpoint: namespace, pod, container,
    endpoint (the port's name), `job` from the `jobLabel` pod label, and each `podTargetLabels`
    label the pod carries."""
    spec = monitor["spec"]
    endpoint = spec["podMetricsEndpoints"][0]
    job_label = spec.get("jobLabel")
    job = pod_labels.get(job_label) if job_label else None
    labels = {
        "namespace": namespace,
        "pod": pod,
        "container": container,
        "endpoint": str(endpoint.get("port")),
        "job": job or f"{namespace}/{monitor['metadata']['name']}",
    }
    for name in spec.get("podTargetLabels", []):
        if name in pod_labels:
            labels[sanitized(name)] = pod_labels[name]
    return labels
