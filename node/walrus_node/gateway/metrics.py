"""Prometheus metrics of the gateway (namespace ``walrus_gateway_``), and the ASGI
middleware that records them.

Who calls it: :mod:`walrus_node.gateway.app` wraps the application with
:class:`MetricsMiddleware` and serves :meth:`GatewayMetrics.render` on ``/metrics``.
Labels are the route *template* (``/v1/blobs/{blob_id}``, never the ID, so the label set
stays small), the method and the status code.
"""

from __future__ import annotations

import time

import prometheus_client as prom
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["GatewayMetrics", "MetricsMiddleware"]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120)


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = prom.CollectorRegistry()
        r = self.registry
        labels = ["route", "method", "status"]
        self.requests = prom.Counter(
            "walrus_gateway_requests", "HTTP requests answered", labels, registry=r
        )
        self.bytes_sent = prom.Counter(
            "walrus_gateway_response_bytes", "Body bytes sent", labels, registry=r
        )
        self.bytes_received = prom.Counter(
            "walrus_gateway_request_bytes", "Body bytes received", labels, registry=r
        )
        self.latency = prom.Histogram(
            "walrus_gateway_request_seconds",
            "From request to the last body byte sent",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.first_byte = prom.Histogram(
            "walrus_gateway_first_byte_seconds",
            "From request to the response headers",
            labels,
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.uploads_active = prom.Gauge(
            "walrus_gateway_uploads_active", "Uploads holding a slot", registry=r
        )
        self.uploads_waiting = prom.Gauge(
            "walrus_gateway_uploads_waiting", "Uploads waiting for a slot", registry=r
        )
        self.cache_bytes = prom.Gauge(
            "walrus_gateway_cache_bytes", "Bytes of blobs in the read cache", registry=r
        )

    def render(self) -> bytes:
        return prom.generate_latest(self.registry)


def _route_of(scope: Scope) -> str:
    path = str(scope.get("path", ""))
    if path.startswith("/v1/blobs/"):
        return "/v1/blobs/{blob_id}"
    if path in {"/v1/blobs", "/v1/api", "/v1/network", "/metrics", "/health", "/ready", "/"}:
        return path
    if path.startswith("/static/"):
        return "/static"
    return "other"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: GatewayMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        route, method = _route_of(scope), str(scope.get("method", ""))
        status = 500
        sent = received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
            return message

        async def counting_send(message: Message) -> None:
            nonlocal status, sent
            if message["type"] == "http.response.start":
                status = int(message["status"])
                self.metrics.first_byte.labels(route, method, str(status)).observe(
                    time.perf_counter() - started
                )
            elif message["type"] == "http.response.body":
                sent += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, counting_receive, counting_send)
        finally:
            labels = (route, method, str(status))
            self.metrics.requests.labels(*labels).inc()
            self.metrics.bytes_sent.labels(*labels).inc(sent)
            self.metrics.bytes_received.labels(*labels).inc(received)
            self.metrics.latency.labels(*labels).observe(time.perf_counter() - started)
