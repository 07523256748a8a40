"""Schema validation: core kinds against Kubernetes' schemas, custom resources against theirs."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate

from manifest_checks.render import MANIFEST_ROOTS, REPO, Manifest, documents, name_of
from manifest_checks.tools import tool

KUBERNETES_VERSION = "1.32.0"
"""The cluster version the manifests target (native sidecars, HPA v2, PDB v1 are all there)."""

CRD_SCHEMAS = REPO / "schemas" / "crds"


def is_core(manifest: Manifest) -> bool:
    """Built-in kinds: the core group, bare groups like `apps`, and `*.k8s.io` groups."""
    group, _, _ = str(manifest.get("apiVersion", "")).rpartition("/")
    return "." not in group or group.endswith(".k8s.io")


def core_problems(manifests: Iterable[Manifest]) -> list[str]:
    """`kubernetes-validate --strict`: unknown or misspelt fields fail, not only wrong types."""
    problems = []
    for manifest in manifests:
        if not is_core(manifest):
            continue
        try:
            kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            where = "/".join(str(p) for p in error.path)
            problems.append(f"{name_of(manifest)}: {where}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError:
            problems.append(
                f"{name_of(manifest)}: {manifest.get('apiVersion')} {manifest.get('kind')} "
                f"does not exist in Kubernetes {KUBERNETES_VERSION}"
            )
    return problems


def schema_path(manifest: Manifest, root: Path = CRD_SCHEMAS) -> Path:
    group, _, version = str(manifest["apiVersion"]).rpartition("/")
    return root / group / f"{str(manifest['kind']).lower()}_{version}.json"


@cache
def _validator(path: Path) -> jsonschema.protocols.Validator:
    schema: dict[str, Any] = json.loads(path.read_text())
    validator_class = jsonschema.validators.validator_for(
        schema, default=jsonschema.Draft7Validator
    )
    return validator_class(schema)


CrdKey = tuple[str, str]
"""(apiVersion, kind) of a custom resource."""


def crd_schemas(manifests: Iterable[Manifest]) -> dict[CrdKey, dict[str, Any]]:
    """The openAPIV3Schema of every version of every CustomResourceDefinition in `manifests`."""
    schemas = {}
    for crd in manifests:
        if crd.get("kind") != "CustomResourceDefinition":
            continue
        group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
        for version in crd["spec"]["versions"]:
            if "schema" in version:
                schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


@cache
def project_crd_schemas() -> dict[CrdKey, dict[str, Any]]:
    """Schemas of the CRDs the project defines itself, read from the manifest roots: custom
    resources of these kinds are validated against their own CRD, wherever they are rendered."""
    found: list[Manifest] = []
    for root in MANIFEST_ROOTS:
        for path in sorted((REPO / root).rglob("*.yaml")):
            text = path.read_text()
            if "kind: CustomResourceDefinition" in text:
                found.extend(documents(text))
    return crd_schemas(found)


def custom_resource_problems(manifests: Iterable[Manifest], root: Path = CRD_SCHEMAS) -> list[str]:
    """Every custom resource against its CRD's schema: the project's own CRDs, or the copies
    of third-party ones under `root`; a kind without one fails."""
    manifests = list(manifests)
    own = {**project_crd_schemas(), **crd_schemas(manifests)}
    problems = []
    for manifest in manifests:
        if is_core(manifest):
            continue
        own_schema = own.get((str(manifest.get("apiVersion")), str(manifest.get("kind"))))
        path = schema_path(manifest, root)
        if own_schema is None and not path.exists():
            problems.append(f"{name_of(manifest)}: no schema at {path.relative_to(REPO)}")
            continue
        validator = (
            _validator(path) if own_schema is None else jsonschema.Draft7Validator(own_schema)
        )
        for error in validator.iter_errors(manifest):
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{name_of(manifest)}: {where}: {error.message}")
    return problems


def workflow_problems(paths: Iterable[Path]) -> list[str]:
    """`check-jsonschema --builtin-schema vendor.github-workflows` on the CI workflow files."""
    files = [str(p) for p in paths]
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *files],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode == 0:
        return []
    return [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
