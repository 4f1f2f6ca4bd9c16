"""The gateway's ASGI application: routes, health, metrics, CORS, and the committee refresh.

Who calls it: :mod:`walrus_node.gateway.server` (``walrus gateway``) and tests.

Routes: ``GET``/``HEAD /v1/blobs/{blob_id}`` (aggregator), ``PUT /v1/blobs`` (publisher),
``GET /v1/api`` (OpenAPI), ``GET /health`` (the process is serving), ``GET /ready`` (the
committee is known: reads and writes can be routed), ``GET /metrics`` (Prometheus),
``GET /`` (the web page, static/index.html) and ``GET /v1/network`` (what the page's
network view shows: epoch, phase, prices, each member's shards and own report, asked of
the nodes at most every ``NETWORK_VIEW_SECONDS``). Any
origin may call the API (CORS), as with Walrus's daemon. The committee is re-read every
``committee_refresh_seconds`` so that reads and writes follow epoch changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.resources
import time
from collections.abc import AsyncIterator
from typing import Any

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from walrus_node.client import api
from walrus_node.gateway import aggregator, auth, metrics, openapi, publisher, tenants
from walrus_node.gateway.settings import GatewaySettings

__all__ = ["Gateway", "build"]

log = structlog.get_logger("walrus.gateway")

NETWORK_VIEW_SECONDS = 2.0
"""The network view is cached this long, so page reloads cannot flood the nodes."""


class Gateway:
    """The parts one application holds: client, aggregator, publisher, metrics."""

    def __init__(self, client: api.WalrusClient, settings: GatewaySettings) -> None:
        self.client = client
        self.settings = settings
        self.metrics = metrics.GatewayMetrics()
        self.aggregator = aggregator.Aggregator(client, settings) if settings.aggregator else None
        verifier = None
        if settings.jwt_key_file is not None:
            verifier = auth.Verifier(
                settings.jwt_key_file.read_bytes().strip(),
                settings.jwt_algorithm,
                settings.jwt_expiring_seconds,
                settings.jwt_replay_cache,
            )
        self.publisher = (
            publisher.Publisher(
                client, settings, verifier, tenants.TenantKeys.load(settings.owner_key_file)
            )
            if settings.publisher
            else None
        )
        self.committee_at = 0.0
        self.committee_error = "not read yet"
        self._page = (
            importlib.resources.files("walrus_node.gateway") / "static" / "index.html"
        ).read_bytes()
        self._network: tuple[float, dict[str, Any]] | None = None
        self._network_lock = asyncio.Lock()

    async def refresh_committee(self) -> None:
        try:
            await self.client.committees(refresh=True)
        except api.ClientError as e:
            self.committee_error = str(e)
            log.warning("committee refresh failed", error=str(e))
        else:
            self.committee_at = time.monotonic()
            self.committee_error = ""

    async def refresher(self) -> None:
        while True:
            await self.refresh_committee()
            await asyncio.sleep(self.settings.committee_refresh_seconds)

    # --- small routes ------------------------------------------------------------------------

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def ready(self, request: Request) -> Response:
        if self.committee_error:
            return JSONResponse({"status": "not ready", "reason": self.committee_error}, 503)
        return JSONResponse({"status": "ready"})

    async def render_metrics(self, request: Request) -> Response:
        if self.publisher is not None:
            self.metrics.uploads_active.set(self.publisher.slots.active)
            self.metrics.uploads_waiting.set(self.publisher.slots.waiting)
        if self.aggregator is not None and self.aggregator.cache is not None:
            self.metrics.cache_bytes.set(self.aggregator.cache.size)
        return Response(self.metrics.render(), media_type="text/plain; version=0.0.4")

    async def api_document(self, request: Request) -> Response:
        return JSONResponse(openapi.document(self.settings))

    async def page(self, request: Request) -> Response:
        return HTMLResponse(self._page, headers={"Cache-Control": "no-cache"})

    async def network(self, request: Request) -> Response:
        async with self._network_lock:
            cached = self._network
            if cached is None or time.monotonic() - cached[0] > NETWORK_VIEW_SECONDS:
                try:
                    view = await self._network_view()
                except api.ClientError as e:
                    return JSONResponse({"error": {"code": 503, "message": str(e)}}, 503)
                self._network = cached = (time.monotonic(), view)
        return JSONResponse(cached[1], headers={"Cache-Control": "no-store"})

    async def _network_view(self) -> dict[str, Any]:
        reports = await self.client.health()
        c = await self.client.committees()
        members = []
        for member, info in reports:
            row: dict[str, Any] = {
                "name": member.name,
                "endpoint": member.endpoint,
                "shards": list(member.shards),
            }
            if isinstance(info, str):
                row["error"] = info
            else:
                row.update(status=info.status.value, epoch=info.epoch, blobs=info.blobs_stored)
            members.append(row)
        return {
            "epoch": c.epoch,
            "phase": c.phase,
            "nShards": c.n_shards,
            "storagePrice": c.storage_price,
            "writePrice": c.write_price,
            "maxEpochsAhead": c.max_epochs_ahead,
            "roles": {"aggregator": self.settings.aggregator, "publisher": self.settings.publisher},
            "members": members,
        }


def build(gateway: Gateway) -> Starlette:
    routes = [
        Route("/health", gateway.health),
        Route("/ready", gateway.ready),
        Route("/metrics", gateway.render_metrics),
        Route("/v1/api", gateway.api_document),
        Route("/", gateway.page),
        Route("/v1/network", gateway.network),
    ]
    if gateway.aggregator is not None:
        routes.append(
            Route("/v1/blobs/{blob_id}", gateway.aggregator.get_blob, methods=["GET", "HEAD"])
        )
    if gateway.publisher is not None:
        routes.append(Route("/v1/blobs", gateway.publisher.put_blob, methods=["PUT"]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.refresh_committee()
        task = asyncio.create_task(gateway.refresher())
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await gateway.client.close()

    return Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            Middleware(metrics.MetricsMiddleware, metrics=gateway.metrics),
            Middleware(
                CORSMiddleware,
                allow_origins=["*"],
                allow_methods=["*"],
                allow_headers=["*"],
                expose_headers=["ETag", "Content-Range", "Content-Length", "Accept-Ranges"],
                max_age=86400,
            ),
        ],
    )
