"""The reconciliation as a pure function: a DummySite and its fetched page -> the objects that
serve the copy. No I/O here, so every rule is tested directly."""

from __future__ import annotations

import hashlib
import html as html_escaping
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urljoin

GROUP = "todo.example.org"
VERSION = "v1"
PLURAL = "dummysites"
KIND = "DummySite"

PAGE_KEY = "index.html"
HTTP_PORT = 8080
"""nginx-unprivileged listens here (it cannot bind below 1024)."""
NGINX_UID = 101
ANNOTATION_SOURCE = f"{GROUP}/source-url"
ANNOTATION_FETCHED_URL = f"{GROUP}/fetched-url"
ANNOTATION_FETCHED_AT = f"{GROUP}/fetched-at"
ANNOTATION_CHECKSUM = f"{GROUP}/page-checksum"
"""On the pod template: a new page changes it, which rolls the Deployment."""

Object = dict[str, Any]

_HEAD = re.compile(r"<head(?:\s[^>]*)?>", re.IGNORECASE)
_BASE = re.compile(r"(<base\s[^>]*?href\s*=\s*)([\"'])(.*?)\2", re.IGNORECASE | re.DOTALL)
_META_CHARSET = re.compile(r"(<meta\s[^>]*?charset\s*=\s*[\"']?)([\w.:-]+)", re.IGNORECASE)


@dataclass(frozen=True)
class Site:
    """The parts of a DummySite the objects are made from."""

    name: str
    namespace: str
    uid: str
    url: str

    @classmethod
    def from_body(cls, body: Mapping[str, Any]) -> Site:
        metadata = body["metadata"]
        return cls(
            metadata["name"], metadata["namespace"], metadata["uid"], body["spec"]["websiteUrl"]
        )


@dataclass(frozen=True)
class Page:
    """A fetched page: where it finally came from (after redirects) and its HTML."""

    url: str
    html: str
    fetched_at: datetime


def render_copy(page: Page) -> str:
    """The page made to render from elsewhere: relative links resolve against the original
    (a `<base>`), and it declares UTF-8, the encoding it is stored in. Applying it to its own
    output changes nothing."""
    text = _META_CHARSET.sub(lambda m: f"{m[1]}utf-8", page.html)
    head = ""
    if not _META_CHARSET.search(text):
        head += '<meta charset="utf-8">'
    if _BASE.search(text):
        text = _BASE.sub(lambda m: f"{m[1]}{m[2]}{urljoin(page.url, m[3])}{m[2]}", text, count=1)
    else:
        head += f'<base href="{html_escaping.escape(page.url)}">'
    if not head:
        return text
    if found := _HEAD.search(text):
        return f"{text[: found.end()]}{head}{text[found.end() :]}"
    return f"{head}{text}"


def checksum(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def owner_reference(site: Site) -> Object:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "name": site.name,
        "uid": site.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def labels(site: Site) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "dummysite",
        "app.kubernetes.io/instance": site.name,
        "app.kubernetes.io/managed-by": "svc-dummysite",
    }


def _metadata(site: Site, annotations: dict[str, str] | None = None) -> Object:
    metadata: Object = {
        "name": site.name,
        "namespace": site.namespace,
        "labels": labels(site),
        "ownerReferences": [owner_reference(site)],
    }
    if annotations:
        metadata["annotations"] = annotations
    return metadata


def config_map(site: Site, page: Page) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(
            site,
            {
                ANNOTATION_SOURCE: site.url,
                ANNOTATION_FETCHED_URL: page.url,
                ANNOTATION_FETCHED_AT: page.fetched_at.isoformat(),
            },
        ),
        "data": {PAGE_KEY: render_copy(page)},
    }


_RESTRICTED: Object = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "runAsNonRoot": True,
    "capabilities": {"drop": ["ALL"]},
    "seccompProfile": {"type": "RuntimeDefault"},
}


def deployment(site: Site, page: Page, image: str) -> Object:
    probe = {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(site),
        "spec": {
            "replicas": 1,
            "revisionHistoryLimit": 3,
            "selector": {"matchLabels": labels(site)},
            "template": {
                "metadata": {
                    "labels": labels(site),
                    "annotations": {ANNOTATION_CHECKSUM: checksum(render_copy(page))},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": NGINX_UID,
                        "runAsGroup": NGINX_UID,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "nginx",
                            "image": image,
                            "ports": [{"name": "http", "containerPort": HTTP_PORT}],
                            "readinessProbe": probe,
                            "livenessProbe": probe,
                            "startupProbe": {**probe, "periodSeconds": 2, "failureThreshold": 15},
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "16Mi"},
                                "limits": {"cpu": "100m", "memory": "64Mi"},
                            },
                            "securityContext": _RESTRICTED,
                            "volumeMounts": [
                                {
                                    "name": "page",
                                    "mountPath": "/usr/share/nginx/html",
                                    "readOnly": True,
                                },
                                {"name": "tmp", "mountPath": "/tmp"},  # noqa: S108 - a private emptyDir
                                {"name": "cache", "mountPath": "/var/cache/nginx"},
                            ],
                        }
                    ],
                    "volumes": [
                        {"name": "page", "configMap": {"name": site.name}},
                        {"name": "tmp", "emptyDir": {"sizeLimit": "16Mi"}},
                        {"name": "cache", "emptyDir": {"sizeLimit": "16Mi"}},
                    ],
                },
            },
        },
    }


def service(site: Site) -> Object:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(site),
        "spec": {
            "selector": labels(site),
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}],
        },
    }


def desired_objects(site: Site, page: Page, image: str) -> list[Object]:
    """Everything that serves the copy, each owned by the DummySite (deleting it cleans up)."""
    return [config_map(site, page), deployment(site, page, image), service(site)]


def config_map_reference(site: Site) -> Object:
    """Enough of the ConfigMap to read it back."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": site.name, "namespace": site.namespace},
    }


def page_from_config_map(site: Site, stored: Mapping[str, Any]) -> Page | None:
    """The copy already stored for this URL, so drift is repaired without fetching again."""
    annotations = stored.get("metadata", {}).get("annotations") or {}
    html = (stored.get("data") or {}).get(PAGE_KEY)
    if annotations.get(ANNOTATION_SOURCE) != site.url or html is None:
        return None
    try:
        fetched_at = datetime.fromisoformat(annotations[ANNOTATION_FETCHED_AT])
    except (KeyError, ValueError):
        return None
    return Page(annotations.get(ANNOTATION_FETCHED_URL, site.url), html, fetched_at)


def needs_apply(desired: Any, actual: Any) -> bool:
    """Whether `actual` lacks or contradicts anything `desired` says. Fields the API server
    adds (defaults, status, resourceVersion) are not drift."""
    if isinstance(desired, Mapping):
        if not isinstance(actual, Mapping):
            return True
        return any(needs_apply(value, actual.get(key)) for key, value in desired.items())
    if isinstance(desired, list):
        if not isinstance(actual, list) or len(desired) != len(actual):
            return True
        return any(needs_apply(d, a) for d, a in zip(desired, actual, strict=True))
    return bool(desired != actual)
