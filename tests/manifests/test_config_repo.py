"""The configuration repository stands on its own: exported, every kustomization renders there
exactly as here, and a later export keeps the image tags CI wrote there."""

from __future__ import annotations

from pathlib import Path

from manifest_checks import config_repo, gitops, render

Rendered = dict[str, list[render.Manifest]]


def test_every_kustomization_renders_alike_in_the_configuration_repository(
    rendered: Rendered, tmp_path: Path
) -> None:
    config_repo.export(tmp_path)
    exported = render.kustomizations(tmp_path)
    names = {str(d.relative_to(tmp_path)) for d in exported}
    here = {n for n in rendered if not n.startswith("svc-")}
    assert names == here
    for directory in exported:
        name = str(directory.relative_to(tmp_path))
        assert render.build(directory) == rendered[name], name


def test_a_new_export_keeps_what_ci_wrote_there(tmp_path: Path) -> None:
    config_repo.export(tmp_path)
    release = tmp_path / "k8s" / "overlays" / "staging" / "release" / "kustomization.yaml"
    bumped = release.read_text().replace("newTag: 0.1.0", "newTag: sha-0123abc")
    release.write_text(bumped)
    (tmp_path / "k8s" / "stale.yaml").write_text("removed upstream\n")

    config_repo.export(tmp_path)

    assert release.read_text() == bumped
    assert not (tmp_path / "k8s" / "stale.yaml").exists()
    images = {
        c["image"]
        for m in render.build(tmp_path / "k8s" / "overlays" / "staging")
        if m["kind"] == "Deployment"
        for c in m["spec"]["template"]["spec"]["containers"]
    }
    assert "ghcr.io/example-org/svc-todo:sha-0123abc" in images


def test_argocd_deploys_from_the_configuration_repository(rendered: Rendered) -> None:
    [project] = render.of_kind(rendered[gitops.GITOPS], "AppProject")
    sources = {
        a["spec"]["source"]["repoURL"]
        for a in render.of_kind(rendered[gitops.GITOPS], "Application")
    }
    assert sources == {config_repo.CONFIG_REPOSITORY}
    assert project["spec"]["sourceRepos"] == [config_repo.CONFIG_REPOSITORY]
