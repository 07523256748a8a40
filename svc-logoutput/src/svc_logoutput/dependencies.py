"""Calls to svc-pingpong and svc-greeter, each failure turned into a short, human reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


class DependencyUnavailable(Exception):
    """The reason is shown on the page and in `/readyz`, e.g. `pingpong unreachable`."""


@dataclass(frozen=True)
class Greeting:
    """What the greeter said and which version said it (the mesh splits v1/v2 75/25)."""

    text: str
    version: str


class Dependencies:
    def __init__(self, client: httpx.AsyncClient, *, pingpong_url: str, greeter_url: str) -> None:
        self._client = client
        self._pings_url = pingpong_url.rstrip("/") + "/pings"
        self._greeter_url = greeter_url.rstrip("/") + "/"

    async def pings(self) -> int:
        body = await self._get_json("pingpong", self._pings_url)
        pings = body.get("pings")
        if not isinstance(pings, int):
            raise DependencyUnavailable("pingpong answered without a pings count")
        return pings

    async def greeting(self) -> Greeting:
        body = await self._get_json("greeter", self._greeter_url)
        greeting, version = body.get("greeting"), body.get("version")
        if not isinstance(greeting, str):
            raise DependencyUnavailable("greeter answered without a greeting")
        if not isinstance(version, str):
            raise DependencyUnavailable("greeter answered without its version")
        return Greeting(greeting, version)

    async def _get_json(self, name: str, url: str) -> dict[str, Any]:
        try:
            response = await self._client.get(url)
        except httpx.TimeoutException as exc:
            raise DependencyUnavailable(f"{name} timed out") from exc
        except httpx.TransportError as exc:
            raise DependencyUnavailable(f"{name} unreachable") from exc
        if response.status_code != 200:
            raise DependencyUnavailable(f"{name} answered {response.status_code}")
        try:
            body = response.json()
        except ValueError as exc:
            raise DependencyUnavailable(f"{name} answered with invalid JSON") from exc
        if not isinstance(body, dict):
            raise DependencyUnavailable(f"{name} answered with unexpected JSON")
        return body
