"""The gateway's ASGI application: routes, health, metrics, CORS, and the committee refresh.

Who calls it: :mod:`walrus_node.gateway.server` (``walrus gateway``) and tests.

Routes: ``GET``/``HEAD /v1/blobs/{blob_id}`` (aggregator), ``PUT /v1/blobs`` (publisher),
``GET /v1/api`` (OpenAPI), ``GET /health`` (the process is serving), ``GET /ready`` (the
committee is known: reads and writes can be routed), ``GET /metrics`` (Prometheus). Any
origin may call the API (CORS), as with Walrus's daemon. The committee is re-read every
``committee_refresh_seconds`` so that reads and writes follow epoch changes.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator

import structlog
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from walrus_node.client import api
from walrus_node.gateway import aggregator, auth, metrics, openapi, publisher, tenants
from walrus_node.gateway.settings import GatewaySettings

__all__ = ["Gateway", "build"]

log = structlog.get_logger("walrus.gateway")


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


def build(gateway: Gateway) -> Starlette:
    routes = [
        Route("/health", gateway.health),
        Route("/ready", gateway.ready),
        Route("/metrics", gateway.render_metrics),
        Route("/v1/api", gateway.api_document),
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
