"""Offline validation: kustomize renders, schemas accept, promtool parses, nats-server starts,
and each of these tools rejects a deliberately broken input (so a pass means something)."""

from __future__ import annotations

from pathlib import Path

import pytest
from manifest_checks import metrics, nats_config, render, schemas

REPO = render.REPO
FIXTURES = Path(__file__).parent / "fixtures"

Rendered = dict[str, list[render.Manifest]]


def test_every_kustomization_renders(rendered: Rendered) -> None:
    assert set(rendered) >= {*render.DEPLOYABLE, "nats", "istio", "knative", "monitoring"}
    assert all(rendered.values())


def test_kustomize_refuses_a_broken_kustomization() -> None:
    with pytest.raises(render.RenderError, match=r"missing\.yaml"):
        render.build(FIXTURES / "broken-kustomization")


def test_images_are_tagged_per_overlay(rendered: Rendered) -> None:
    images = {
        c["image"]
        for m in rendered["k8s/overlays/staging"]
        if m["kind"] == "Deployment"
        for c in m["spec"]["template"]["spec"]["containers"]
    }
    assert "ghcr.io/example-org/svc-todo:0.1.0" in images


@pytest.mark.parametrize("name", sorted(render.MANIFEST_ROOTS))
def test_core_kinds_pass_strict_validation(rendered: Rendered, name: str) -> None:
    problems = [
        p
        for key, docs in rendered.items()
        if key.startswith(name)
        for p in schemas.core_problems(docs)
    ]
    assert problems == []


def test_strict_validation_rejects_an_unknown_field() -> None:
    problems = schemas.core_problems(render.load_files([FIXTURES / "invalid-core.yaml"]))
    assert len(problems) == 1
    assert "Deployment/-/typo" in problems[0]
    assert "replica" in problems[0]


def test_custom_resources_match_their_schemas(rendered: Rendered) -> None:
    problems = [p for docs in rendered.values() for p in schemas.custom_resource_problems(docs)]
    assert problems == []


def test_schema_validation_rejects_bad_custom_resources() -> None:
    problems = schemas.custom_resource_problems(render.load_files([FIXTURES / "invalid-crd.yaml"]))
    assert any(p.startswith("VirtualService/-/typo") and "weigth" in p for p in problems)
    assert any(p.startswith("Stream/-/tape") and "'tape'" in p for p in problems)
    assert any(p.startswith("Unknown/-/nobody-knows: no schema") for p in problems)


def test_rules_dashboards_and_analysis_parse(rendered: Rendered) -> None:
    production = rendered["k8s/overlays/production"]
    origins = " ".join(q.origin for q in metrics.queries(production))
    for origin in ("PrometheusRule", "AnalysisTemplate", "panel"):
        assert origin in origins
    assert metrics.promtool_problems(production) == []


def test_promtool_rejects_unparsable_queries() -> None:
    problems = metrics.promtool_problems(render.load_files([FIXTURES / "invalid-queries.yaml"]))
    text = "\n".join(problems)
    assert "Unclosed" in text or "unclosed" in text
    assert "panel 'Bad'" in text


@pytest.mark.parametrize("config", nats_config.CONFIGS, ids=lambda p: p.name)
def test_nats_configurations_parse(config: Path) -> None:
    assert nats_config.config_problems(config) == []


def test_nats_refuses_to_start_without_a_password() -> None:
    environment = {v: "x" for v in nats_config.password_variables().values()}
    del environment["NATS_TODO_PASSWORD"]
    problems = nats_config.config_problems(nats_config.NATS_DIR / "single.conf", environment)
    assert len(problems) == 1
    assert "NATS_TODO_PASSWORD" in problems[0]


def test_the_ci_workflows_are_valid() -> None:
    workflows = sorted((REPO / ".github" / "workflows").glob("*.yaml"))
    assert workflows
    assert schemas.workflow_problems(workflows) == []


def test_workflow_validation_rejects_a_job_without_a_runner() -> None:
    assert schemas.workflow_problems([FIXTURES / "invalid-workflow.yaml"]) != []
