"""The system as a deployment serves it, launched on this machine when no target is given: NATS,
a fresh PostgreSQL database and the services behind the public hosts as their console commands,
and in front of them a stand-in for the Istio ingress gateway that routes exactly what the public
VirtualServices (istio/public-routes.yaml) route and answers 404 for every other path."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
import yaml

from shared_testkit import postgres
from shared_testkit.nats_server import NatsServer
from shared_testkit.polling import wait_until
from shared_testkit.ports import free_port
from shared_testkit.processes import ServiceProcess

PUBLIC_ROUTES = Path(__file__).resolve().parents[2] / "istio" / "public-routes.yaml"
HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "host"}
)


def public_matches(virtual_service: str) -> list[dict[str, str]]:
    """The URI matches of one public VirtualService, as the gateway applies them."""
    for document in yaml.safe_load_all(PUBLIC_ROUTES.read_text()):
        if document and document["metadata"]["name"] == virtual_service:
            return [m["uri"] for rule in document["spec"]["http"] for m in rule["match"]]
    raise LookupError(f"no VirtualService {virtual_service} in {PUBLIC_ROUTES}")


def routed(path: str, matches: list[dict[str, str]]) -> bool:
    return any(
        path == match.get("exact")
        or ("prefix" in match and path.startswith(match["prefix"]))
        or ("regex" in match and re.fullmatch(match["regex"], path) is not None)
        for match in matches
    )


class Gateway:
    """An ASGI proxy: a routed path goes to `upstream` with its answer streamed back (live updates
    are server-sent events); any other path gets 404, as from Envoy without a route."""

    def __init__(self, matches: list[dict[str, str]], upstream: str) -> None:
        self.matches = matches
        self.upstream = upstream

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path = scope["raw_path"].decode("latin-1").split("?", 1)[0]
        if not routed(path, self.matches):
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        query = scope["query_string"].decode("latin-1")
        url = f"{self.upstream}{path}" + (f"?{query}" if query else "")
        headers = [
            (k.decode("latin-1"), v.decode("latin-1"))
            for k, v in scope["headers"]
            if k.decode("latin-1").lower() not in HOP_BY_HOP | {"content-length"}
        ]
        async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as client:
            request = client.build_request(scope["method"], url, headers=headers, content=body)
            try:
                response = await client.send(request, stream=True)
            except httpx.TransportError:
                await send({"type": "http.response.start", "status": 503, "headers": []})
                await send({"type": "http.response.body", "body": b"no healthy upstream"})
                return
            try:
                await _relay(response, receive, send)
            finally:
                await response.aclose()


async def _relay(response: httpx.Response, receive: Any, send: Any) -> None:
    """Stream the answer until it ends or the client goes away (an open event stream would
    otherwise outlive its reader)."""
    await send(
        {
            "type": "http.response.start",
            "status": response.status_code,
            "headers": [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.multi_items()
                if k.lower() not in HOP_BY_HOP
            ],
        }
    )

    async def body() -> None:
        async for chunk in response.aiter_raw():
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    tasks = [asyncio.ensure_future(body()), asyncio.ensure_future(disconnected())]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@contextmanager
def serving(app: Gateway) -> Iterator[str]:
    """`app` under uvicorn in a thread of its own, so tests may block on it."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host="127.0.0.1",
            port=port,
            log_config=None,
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=2,
        )
    )
    thread = threading.Thread(target=server.run, name=f"gateway-{port}", daemon=True)
    thread.start()
    wait_until(lambda: server.started, timeout=10, message=f"gateway on {port}")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextmanager
def launched(postgres_admin_url: str, scratch: Path) -> Iterator[tuple[str, str]]:
    """Start everything; yield the two public base URLs (svc-todo's host, log-output's host)."""
    database_url = asyncio.run(postgres.create_database(postgres_admin_url))
    info_file = scratch / "information.txt"
    info_file.write_text("this text comes from a mounted file\n")
    with ExitStack() as stack:
        stack.callback(
            lambda: asyncio.run(postgres.drop_database(postgres_admin_url, database_url))
        )
        nats = NatsServer(scratch / "jetstream")
        nats.start()
        stack.callback(nats.stop, kill=True)

        def start(command: str, env: dict[str, str], wait_for: str = "/healthz") -> str:
            process = ServiceProcess(command, env, scratch)
            stack.callback(process.stop, kill=True)
            process.start(wait_for=wait_for, timeout=30)
            return process.url

        pingpong = start("svc-pingpong", {"DATABASE_URL": database_url}, "/readyz")
        greeter = start("svc-greeter", {"GREETER_VERSION": "v1"})
        todo = start(
            "svc-todo",
            {
                "DATABASE_URL": database_url,
                "NATS_URL": nats.url,
                "DATA_DIR": str(scratch / "todo"),
                "IMAGE_SOURCE_URL": "http://127.0.0.1:9/unreachable",
            },
            "/readyz",
        )
        logoutput = start(
            "svc-logoutput",
            {
                "PINGPONG_URL": pingpong,
                "GREETER_URL": greeter,
                "MESSAGE": "hello from the deployed suite",
                "INFO_FILE": str(info_file),
            },
        )
        todo_host = stack.enter_context(serving(Gateway(public_matches("svc-todo-public"), todo)))
        log_host = stack.enter_context(
            serving(Gateway(public_matches("svc-logoutput-public"), logoutput))
        )
        yield todo_host, log_host
