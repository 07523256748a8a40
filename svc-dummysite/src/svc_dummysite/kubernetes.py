"""The few Kubernetes API calls the reconciliation makes: read an object, server-side apply it."""

from __future__ import annotations

import json
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import kopf

FIELD_MANAGER = "svc-dummysite"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER_SERVER = "https://kubernetes.default.svc"
_PLURALS = {
    "ConfigMap": "configmaps",
    "Service": "services",
    "Deployment": "deployments",
    "DummySite": "dummysites",
}


class KubernetesError(Exception):
    """The API server refused or did not answer; worth retrying later."""


class NoCredentials(Exception):
    """Neither in a pod with a service account nor pointed at an API server: nothing to talk to."""


@dataclass(frozen=True)
class ApiAccess:
    """Where the API server is and how to authenticate: one answer for kopf and for our calls."""

    server: str
    token_file: Path | None = None
    ca_file: Path | None = None

    @classmethod
    def configured(cls, url: str | None, service_account: Path = SERVICE_ACCOUNT) -> ApiAccess:
        """`url` without credentials when set (`kubectl proxy`, tests), else the pod's account."""
        if url:
            return cls(url.rstrip("/"))
        token, ca = service_account / "token", service_account / "ca.crt"
        if not (token.is_file() and ca.is_file()):
            raise NoCredentials(
                "no Kubernetes credentials: in a cluster it uses the pod's service account "
                f"(token and ca.crt in {service_account}: not found); outside one, run "
                "`kubectl proxy` (it uses your kubeconfig) and set "
                "KUBERNETES_API_URL=http://127.0.0.1:8001"
            )
        return cls(IN_CLUSTER_SERVER, token, ca)

    def token(self) -> str | None:
        """Read on every use: the kubelet rotates projected service account tokens."""
        return self.token_file.read_text().strip() if self.token_file else None

    def connection_info(self) -> kopf.ConnectionInfo:
        return kopf.ConnectionInfo(
            server=self.server,
            token=self.token(),
            ca_path=str(self.ca_file) if self.ca_file else None,
        )


def object_path(manifest: Mapping[str, Any]) -> str:
    api_version, kind = manifest["apiVersion"], manifest["kind"]
    prefix = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
    metadata = manifest["metadata"]
    return f"{prefix}/namespaces/{metadata['namespace']}/{_PLURALS[kind]}/{metadata['name']}"


class KubernetesApi:
    def __init__(self, access: ApiAccess, timeout_seconds: float = 10.0) -> None:
        verify: ssl.SSLContext | bool = True
        if access.ca_file:
            verify = ssl.create_default_context(cafile=str(access.ca_file))
        self._access = access
        self._client = httpx.AsyncClient(
            base_url=access.server, verify=verify, timeout=timeout_seconds
        )

    async def __aenter__(self) -> KubernetesApi:
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    def _headers(self) -> dict[str, str]:
        token = self._access.token()
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def read(self, manifest: Mapping[str, Any]) -> dict[str, Any] | None:
        """The live object `manifest` names, or None if it does not exist."""
        response = await self._send("GET", object_path(manifest))
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        return self._json(response)

    async def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply: create the object or make the fields we own match `manifest`."""
        response = await self._send(
            "PATCH",
            object_path(manifest),
            params={"fieldManager": FIELD_MANAGER, "force": "true"},
            headers={"Content-Type": "application/apply-patch+yaml"},
            content=json.dumps(manifest).encode(),
        )
        return self._json(response)

    async def patch_status(self, manifest: Mapping[str, Any], status: Mapping[str, Any]) -> None:
        """Merge `status` into the object's status subresource at once (not at handler exit)."""
        response = await self._send(
            "PATCH",
            f"{object_path(manifest)}/status",
            headers={"Content-Type": "application/merge-patch+json"},
            content=json.dumps({"status": status}).encode(),
        )
        self._json(response)

    async def _send(self, method: str, path: str, **options: Any) -> httpx.Response:
        headers = {**self._headers(), **options.pop("headers", {})}
        try:
            return await self._client.request(method, path, headers=headers, **options)
        except httpx.HTTPError as error:
            raise KubernetesError(f"Kubernetes API unreachable: {error!r}") from None

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        if not response.is_success:
            try:
                reason = response.json().get("message", response.text)
            except ValueError:
                reason = response.text
            raise KubernetesError(
                f"Kubernetes API: {response.request.method} {response.url.path} answered "
                f"{response.status_code}: {reason}"
            )
        body: dict[str, Any] = response.json()
        return body
