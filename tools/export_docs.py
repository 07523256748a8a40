"""`make docs`: every HTTP service's OpenAPI and the messaging AsyncAPI, exported from the code,
as a static site.

Each service's app is built with its own `create_app(settings)` and asked for its documents
through its own routes (`/schema/openapi.json`, and `/asyncapi.json` where it has one) in-process:
no server, no lifespan, no database or NATS. Settings come from the environment as each service
reads them (only DATA_DIR is a scratch directory), so the files hold what a service configured
like this environment answers: tests/docs/ checks that against real processes, and nothing is
copied by hand. The AsyncAPI names the NATS server of `NATS_URL` (default: the local one).

The pages render offline: the renderers' standalone bundles (Redoc for OpenAPI, AsyncAPI's React
component for AsyncAPI) come from the npm registry through `npm pack` at pinned versions whose
integrity is checked, and each page carries its document inline, so it also opens from disk.

    python tools/export_docs.py [--out build/docs] [--specs-only]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import html
import importlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

SERVICES: dict[str, str] = {
    "svc-todo": "svc_todo.settings:TodoSettings",
    "svc-broadcaster": "svc_broadcaster.settings:BroadcasterSettings",
    "svc-wikipedia": "svc_wikipedia.settings:WikipediaSettings",
    "svc-greeter": "svc_greeter.settings:GreeterSettings",
    "svc-pingpong": "svc_pingpong.settings:PingpongSettings",
    "svc-logoutput": "svc_logoutput.settings:LogOutputSettings",
}
"""Every service with an HTTP app, and its settings class (svc-dummysite is a kopf operator)."""

DOCUMENTS: dict[str, str] = {
    "openapi.json": "/schema/openapi.json",
    "asyncapi.json": "/asyncapi.json",
}
"""File name -> the route that serves it. A service without the route has no such document."""


@dataclass(frozen=True)
class Renderer:
    package: str
    version: str
    integrity: str
    """npm's `dist.integrity` of the tarball: a changed download fails the build."""
    assets: dict[str, str]
    """Member of the package tarball -> file name under `assets/`."""


REDOC = Renderer(
    package="redoc",
    version="2.5.4",
    integrity="sha512-M6jWhG1qoBnH6TFmzJnstyCZ87HmOY/UzDm78mHiYihEdlV/YcS9ogOo1NlElnJMeLsyxHFe2yFc4sNjHTrABQ==",
    assets={
        "package/bundles/redoc.standalone.js": "redoc.standalone.js",
        "package/bundles/redoc.standalone.js.LICENSE.txt": "redoc.standalone.js.LICENSE.txt",
    },
)
ASYNCAPI_REACT = Renderer(
    package="@asyncapi/react-component",
    version="3.2.1",
    integrity="sha512-k5ZqJd6+oxYaQ2o6F3rGWJ1MTIjXdpsUYB3NKQbVqr4yzrN0Ovj5c7eZx8NGd3wfKPhbOrLREtYl9K2OPfnSsA==",
    assets={
        "package/browser/standalone/index.js": "asyncapi.standalone.js",
        "package/browser/standalone/index.js.LICENSE.txt": "asyncapi.standalone.js.LICENSE.txt",
        "package/styles/default.min.css": "asyncapi.css",
    },
)


def settings_class(dotted: str) -> Any:
    module, name = dotted.split(":")
    return getattr(importlib.import_module(module), name)


async def service_documents(service: str, data_dir: Path) -> dict[str, Any]:
    """The documents `service` serves, asked of its app in-process (lifespan never runs)."""
    settings = settings_class(SERVICES[service]).from_environment(data_dir=data_dir)
    app_module = importlib.import_module(SERVICES[service].split(".")[0] + ".app")
    app = app_module.create_app(settings)
    documents: dict[str, Any] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://docs.invalid") as client:
        for name, path in DOCUMENTS.items():
            response = await client.get(path)
            if response.status_code == 404:
                continue
            response.raise_for_status()
            documents[name] = response.json()
    return documents


async def export_documents(out: Path) -> dict[str, dict[str, Any]]:
    """Write `<out>/<service>/<document>.json` for every service; return what was written."""
    exported: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="export-docs-") as scratch:
        for service in SERVICES:
            documents = await service_documents(service, Path(scratch) / service)
            (out / service).mkdir(parents=True, exist_ok=True)
            for name, document in documents.items():
                text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
                (out / service / name).write_text(text + "\n", encoding="utf-8")
            exported[service] = documents
    return exported


def fetch_renderer(renderer: Renderer, cache: Path, assets: Path) -> None:
    """`npm pack` the pinned version (once: the tarball is cached), check it, copy its bundles."""
    cache.mkdir(parents=True, exist_ok=True)
    tarball = cache / f"{renderer.package.lstrip('@').replace('/', '-')}-{renderer.version}.tgz"
    if not tarball.exists():
        npm = shutil.which("npm")
        if npm is None:
            sys.exit(
                "export_docs: npm is needed to fetch the page renderers "
                f"({REDOC.package}, {ASYNCAPI_REACT.package}); install Node.js, "
                "or run with --specs-only for the documents alone"
            )
        subprocess.run(
            [
                npm,
                "pack",
                "--loglevel=error",
                f"{renderer.package}@{renderer.version}",
                "--pack-destination",
                cache,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    if f"sha512-{digest}" != renderer.integrity:
        tarball.unlink()
        sys.exit(f"export_docs: {tarball.name} does not match its pinned integrity; removed it")
    assets.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as archive:
        for member, name in renderer.assets.items():
            source = archive.extractfile(member)
            if source is None:
                sys.exit(f"export_docs: {member} missing from {tarball.name}")
            (assets / name).write_bytes(source.read())


def inline_json(document: Any) -> str:
    """JSON safe inside a <script> element."""
    return json.dumps(document, sort_keys=True).replace("</", "<\\/")


def page(title: str, head: str, body: str) -> str:
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
{head}</head>
<body style="margin:0">
{body}
</body>
</html>
"""


def openapi_page(service: str, document: Any) -> str:
    return page(
        f"{service} HTTP API",
        "",
        f"""<div id="api"></div>
<script src="../assets/redoc.standalone.js"></script>
<script>
Redoc.init({inline_json(document)}, {{}}, document.getElementById("api"));
</script>""",
    )


def asyncapi_page(service: str, document: Any) -> str:
    return page(
        f"{service} messaging API",
        '<link rel="stylesheet" href="../assets/asyncapi.css">\n',
        f"""<div id="asyncapi"></div>
<script src="../assets/asyncapi.standalone.js"></script>
<script>
AsyncApiStandalone.render(
  {{"schema": {inline_json(document)}, "config": {{"show": {{"sidebar": true}}}}}},
  document.getElementById("asyncapi"));
</script>""",
    )


def index_page(exported: dict[str, dict[str, Any]], rendered: bool) -> str:
    rows = []
    for service, documents in exported.items():
        cells = []
        for name, label, page_name in (
            ("openapi.json", "HTTP (OpenAPI)", "index.html"),
            ("asyncapi.json", "messaging (AsyncAPI)", "asyncapi.html"),
        ):
            if name not in documents:
                cells.append("<td>—</td>")
                continue
            view = f'<a href="{service}/{page_name}">{label}</a> · ' if rendered else ""
            cells.append(f'<td>{view}<a href="{service}/{name}">{name}</a></td>')
        rows.append(f"<tr><th>{service}</th>{''.join(cells)}</tr>")
    table = "\n".join(rows)
    return page(
        "API documentation",
        "<style>body{font-family:system-ui,sans-serif;margin:2rem!important}"
        "td,th{padding:.3rem 1rem;text-align:left}</style>\n",
        f"""<h1>API documentation</h1>
<p>Exported from each service's code by <code>make docs</code>; every message on NATS is a
CloudEvent in binary mode (<code>ce-*</code> headers, JSON body).</p>
<table>
<tr><th>service</th><th>HTTP</th><th>messaging</th></tr>
{table}
</table>""",
    )


def build(out: Path, *, render: bool) -> dict[str, dict[str, Any]]:
    if out.exists():
        shutil.rmtree(out)
    exported = asyncio.run(export_documents(out))
    if render:
        cache = out.parent / ".renderers"
        for renderer in (REDOC, ASYNCAPI_REACT):
            fetch_renderer(renderer, cache, out / "assets")
        for service, documents in exported.items():
            if "openapi.json" in documents:
                text = openapi_page(service, documents["openapi.json"])
                (out / service / "index.html").write_text(text, encoding="utf-8")
            if "asyncapi.json" in documents:
                text = asyncapi_page(service, documents["asyncapi.json"])
                (out / service / "asyncapi.html").write_text(text, encoding="utf-8")
    (out / "index.html").write_text(index_page(exported, render), encoding="utf-8")
    return exported


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "docs")
    parser.add_argument(
        "--specs-only", action="store_true", help="the JSON documents and an index, no renderers"
    )
    args = parser.parse_args(argv)
    exported = build(args.out, render=not args.specs_only)
    count = sum(len(documents) for documents in exported.values())
    print(f"{count} documents of {len(exported)} services in {args.out}")


if __name__ == "__main__":
    main()
