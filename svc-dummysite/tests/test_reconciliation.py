"""The pure reconciliation: a DummySite and its page -> the objects that serve the copy."""

from __future__ import annotations

from datetime import UTC, datetime

from svc_dummysite.reconciliation import (
    ANNOTATION_CHECKSUM,
    Page,
    Site,
    desired_objects,
    needs_apply,
    page_from_config_map,
    render_copy,
)

SITE = Site("example", "web", "1234-uid", "https://example.com/")
FETCHED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
IMAGE = "docker.io/nginxinc/nginx-unprivileged:1.27-alpine"


def page(html: str, url: str = "https://example.com/") -> Page:
    return Page(url, html, FETCHED)


def by_kind(objects: list[dict]) -> dict[str, dict]:
    return {o["kind"]: o for o in objects}


def test_a_site_becomes_a_config_map_a_deployment_and_a_service_it_owns() -> None:
    objects = by_kind(desired_objects(SITE, page("<html><head></head></html>"), IMAGE))
    assert set(objects) == {"ConfigMap", "Deployment", "Service"}
    for obj in objects.values():
        assert obj["metadata"]["name"] == "example"
        assert obj["metadata"]["namespace"] == "web"
        assert obj["metadata"]["ownerReferences"] == [
            {
                "apiVersion": "todo.example.org/v1",
                "kind": "DummySite",
                "name": "example",
                "uid": "1234-uid",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    service = objects["Service"]
    pod = objects["Deployment"]["spec"]["template"]
    assert service["spec"]["selector"] == pod["metadata"]["labels"]
    assert objects["Deployment"]["spec"]["selector"]["matchLabels"] == pod["metadata"]["labels"]


def test_nginx_is_unprivileged_pinned_and_serves_the_page_read_only() -> None:
    deployment = by_kind(desired_objects(SITE, page("<p>hi</p>"), IMAGE))["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    (nginx,) = pod["containers"]
    assert nginx["image"] == IMAGE
    assert ":" in nginx["image"].rsplit("/", 1)[-1]
    assert not nginx["image"].endswith(":latest")
    security = nginx["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["automountServiceAccountToken"] is False
    page_mount = next(m for m in nginx["volumeMounts"] if m["name"] == "page")
    assert page_mount == {"name": "page", "mountPath": "/usr/share/nginx/html", "readOnly": True}
    assert {"name": "page", "configMap": {"name": "example"}} in pod["volumes"]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert nginx[probe]["httpGet"]["port"] == "http"
    assert set(nginx["resources"]["limits"]) == {"cpu", "memory"}


def test_relative_links_resolve_against_the_page_it_was_fetched_from() -> None:
    html = '<html><head><title>T</title></head><body><img src="logo.png"></body></html>'
    copy = render_copy(page(html, "https://example.com/docs/index.html"))
    assert copy.startswith(
        '<html><head><meta charset="utf-8"><base href="https://example.com/docs/index.html">'
    )
    assert '<img src="logo.png">' in copy


def test_an_existing_relative_base_becomes_absolute_and_the_charset_utf8() -> None:
    html = '<head><meta charset="iso-8859-1"><base href="/static/"></head>'
    copy = render_copy(page(html, "https://example.com/a/b"))
    assert copy == '<head><meta charset="utf-8"><base href="https://example.com/static/"></head>'


def test_a_fragment_without_head_still_gets_its_base() -> None:
    assert render_copy(page("<p>x</p>", "http://h/")) == (
        '<meta charset="utf-8"><base href="http://h/"><p>x</p>'
    )


def test_rendering_twice_changes_nothing() -> None:
    for html in (
        "<p>x</p>",
        '<HEAD lang="en"><BASE HREF="x/"></HEAD>',
        "<head><meta charset=latin1>",
    ):
        once = render_copy(page(html, "https://example.com/dir/"))
        assert render_copy(page(once, "https://example.com/dir/")) == once


def test_a_new_page_changes_the_pod_template_so_the_deployment_rolls() -> None:
    def template_annotations(html: str) -> dict:
        objects = by_kind(desired_objects(SITE, page(html), IMAGE))
        return objects["Deployment"]["spec"]["template"]["metadata"]["annotations"]

    assert template_annotations("<p>one</p>") == template_annotations("<p>one</p>")
    first, second = template_annotations("<p>one</p>"), template_annotations("<p>two</p>")
    assert first[ANNOTATION_CHECKSUM] != second[ANNOTATION_CHECKSUM]


def test_the_stored_copy_rebuilds_the_same_objects_without_fetching() -> None:
    desired = desired_objects(SITE, page("<p>x</p>", "https://www.example.com/"), IMAGE)
    stored = by_kind(desired)["ConfigMap"]
    recovered = page_from_config_map(SITE, stored)
    assert recovered is not None
    assert desired_objects(SITE, recovered, IMAGE) == desired


def test_a_copy_of_another_url_is_not_reused() -> None:
    stored = by_kind(desired_objects(SITE, page("<p>x</p>"), IMAGE))["ConfigMap"]
    moved = Site(SITE.name, SITE.namespace, SITE.uid, "https://example.org/")
    assert page_from_config_map(moved, stored) is None


def test_server_defaults_are_not_drift_but_changed_or_missing_fields_are() -> None:
    desired = by_kind(desired_objects(SITE, page("<p>x</p>"), IMAGE))["Service"]
    live = {
        **desired,
        "metadata": {**desired["metadata"], "resourceVersion": "7", "uid": "u"},
        "spec": {
            **desired["spec"],
            "clusterIP": "10.0.0.1",
            "ports": [{**desired["spec"]["ports"][0], "protocol": "TCP"}],
        },
    }
    assert not needs_apply(desired, live)
    assert needs_apply(desired, {**live, "spec": {**live["spec"], "selector": {"a": "b"}}})
    assert needs_apply(desired, {**live, "spec": {**live["spec"], "ports": []}})
    assert needs_apply(desired, {"metadata": live["metadata"]})
