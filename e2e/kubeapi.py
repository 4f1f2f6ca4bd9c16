"""A small asynchronous Kubernetes API client that speaks plain JSON dicts.

Used by the kubelet stand-in (`e2e.kubelet`) and by the e2e tests. It reads the
kubeconfig files that `e2e.controlplane.cluster` writes (one cluster, one user, client
certificates embedded as base64), and offers the handful of verbs those callers need:
get, list, create, merge-patch, delete and watch, on any resource path.

Objects stay plain dicts end to end: no model classes, no (de)serialization quirks, and
what a test asserts on is exactly what the API server returned.

Errors::

    ApiError            an API call answered with a non-2xx status (`.status`, `.reason`)
    └── NotFound        ... with 404
"""

from __future__ import annotations

import base64
import json
import ssl
import tempfile
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
import yaml

JSON = dict[str, Any]


class ApiError(Exception):
    """An API call answered with a non-2xx status."""

    def __init__(self, method: str, path: str, status: int, body: str) -> None:
        self.status = status
        self.reason = ""
        self.body = body
        try:
            decoded = json.loads(body)
            self.reason = str(decoded.get("reason", ""))
            message = str(decoded.get("message", body))
        except ValueError:
            message = body
        super().__init__(f"{method} {path}: HTTP {status}: {message}")


class NotFound(ApiError):
    """The object or resource does not exist."""


class Conflict(ApiError):
    """The object already exists, or its resourceVersion is stale."""


def _ssl_context(kubeconfig: Mapping[str, Any]) -> tuple[str, ssl.SSLContext]:
    """The server URL and a TLS context for the kubeconfig's current context."""
    contexts = {c["name"]: c["context"] for c in kubeconfig["contexts"]}
    context = contexts[kubeconfig["current-context"]]
    cluster = {c["name"]: c["cluster"] for c in kubeconfig["clusters"]}[context["cluster"]]
    user = {u["name"]: u["user"] for u in kubeconfig["users"]}[context["user"]]
    ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
    tls = ssl.create_default_context(cadata=ca)
    # ssl can only load a client key pair from files: write them to a private temporary
    # directory that lives only while the context is being built.
    with tempfile.TemporaryDirectory(prefix="walrus-kubeapi-") as tmp:
        cert = Path(tmp) / "client.crt"
        key = Path(tmp) / "client.key"
        cert.write_bytes(base64.b64decode(user["client-certificate-data"]))
        key.write_bytes(base64.b64decode(user["client-key-data"]))
        tls.load_cert_chain(cert, key)
    return str(cluster["server"]), tls


class Client:
    """An API client bound to one kubeconfig. Use as an async context manager."""

    def __init__(self, kubeconfig: Path) -> None:
        config = yaml.safe_load(kubeconfig.read_text())
        self.server, self._tls = _ssl_context(config)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(ssl=self._tls),
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("kubeapi.Client used outside 'async with'")
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        body: JSON | None = None,
        params: Mapping[str, str] | None = None,
        content_type: str = "application/json",
        timeout: float = 30.0,
    ) -> JSON:
        """One API call; the decoded JSON answer, or ApiError."""
        data = None if body is None else json.dumps(body)
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        async with self.session.request(
            method,
            self.server + path,
            data=data,
            params=params,
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=timeout),
        ) as response:
            text = await response.text()
            if response.status >= 300:
                raise _error(method, path, response.status, text)
        decoded: JSON = json.loads(text) if text else {}
        return decoded

    async def get(self, path: str) -> JSON:
        return await self.request("GET", path)

    async def get_or_none(self, path: str) -> JSON | None:
        try:
            return await self.get(path)
        except NotFound:
            return None

    async def list(self, path: str, **params: str) -> JSON:
        return await self.request("GET", path, params=params)

    async def create(self, path: str, body: JSON) -> JSON:
        return await self.request("POST", path, body)

    async def patch(self, path: str, body: JSON) -> JSON:
        """A JSON merge patch (RFC 7386): lists in `body` replace lists on the server."""
        return await self.request("PATCH", path, body, content_type="application/merge-patch+json")

    async def delete(self, path: str, body: JSON | None = None) -> JSON:
        return await self.request("DELETE", path, body)

    async def watch(self, path: str, resource_version: str, **params: str) -> AsyncIterator[JSON]:
        """The watch events on a collection after `resource_version`, until the server ends
        the stream (after about five minutes). Each event is {"type", "object"}."""
        timeout_seconds = 300
        query = {
            **params,
            "watch": "1",
            "resourceVersion": resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(timeout_seconds),
        }
        async with self.session.get(
            self.server + path,
            params=query,
            timeout=aiohttp.ClientTimeout(total=timeout_seconds + 30, sock_read=None),
        ) as response:
            if response.status >= 300:
                raise _error("WATCH", path, response.status, await response.text())
            # One JSON event per line. Objects can be far larger than aiohttp's line limit
            # (a ConfigMap holds up to 1 MiB), so split the stream ourselves.
            buffer = b""
            async for chunk in response.content.iter_any():
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        event: JSON = json.loads(line)
                        yield event


def _error(method: str, path: str, status: int, body: str) -> ApiError:
    kind = {404: NotFound, 409: Conflict}.get(status, ApiError)
    return kind(method, path, status, body)


def collection(resource: str, namespace: str | None = None, group: str = "") -> str:
    """The API path of a collection: `collection("pods", "ns")` -> /api/v1/namespaces/ns/pods.

    `group` is "group/version" for named API groups ("apps/v1"); empty for the core group."""
    prefix = f"/apis/{group}" if group else "/api/v1"
    if namespace is None:
        return f"{prefix}/{resource}"
    return f"{prefix}/namespaces/{namespace}/{resource}"


def item(resource: str, name: str, namespace: str | None = None, group: str = "") -> str:
    """The API path of one object."""
    return f"{collection(resource, namespace, group)}/{name}"
