"""Running a node: the gRPC server with health checking, metrics endpoint, and signals.

Who calls it: ``walrus-node run`` (:mod:`walrus_node.cli.node_main`) and in-process tests.
Start-up order: open the store, start the service (committee, background work), bind the
gRPC and metrics ports, report the bound ports, then mark the health service SERVING.
SIGTERM reverses it: NOT_SERVING first (load balancers and peers stop sending), then a
graceful stop of at most ``shutdown_grace_seconds``, then the store is closed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
from typing import Any, cast

import grpc
import grpc.aio
import prometheus_client
import structlog
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from walrus_node.config import NodeConfig
from walrus_node.metrics import NodeMetrics
from walrus_node.protocol.keys import KeyPair
from walrus_node.service.context import NodeContext
from walrus_node.service.node import NodeService
from walrus_node.store.store import Store
from walrus_node.transport import client, convert, data_parts, tls
from walrus_node.transport.client import ChannelPool
from walrus_node.transport.servicer import AdminServicer, StorageNodeServicer
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

__all__ = ["RunningNode", "serve", "start"]

log = structlog.get_logger("walrus.server")


class RunningNode:
    def __init__(
        self,
        config: NodeConfig,
        service: NodeService,
        server: grpc.aio.Server,
        health_servicer: HealthServicer,
        grpc_port: int,
        metrics_port: int | None,
        metrics_server: Any,
    ) -> None:
        self.config = config
        self.service = service
        self.server = server
        self.health = health_servicer
        self.grpc_port = grpc_port
        self.metrics_port = metrics_port
        self._metrics_server = metrics_server

    @property
    def endpoint(self) -> str:
        host = self.config.listen_host
        return f"{'127.0.0.1' if host in ('0.0.0.0', '') else host}:{self.grpc_port}"

    async def stop(self, grace: float | None = None) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(self.config.shutdown_grace_seconds if grace is None else grace)
        await self.service.stop()
        if self._metrics_server is not None:
            server, thread = self._metrics_server
            server.shutdown()
            thread.join(timeout=5)


def _server_tls(config: NodeConfig) -> tls.ServerTlsFiles | None:
    """The node's TLS material, re-read when its files change; None for plaintext (the
    config sets all three or none)."""
    cert, key, ca = config.tls_cert_file, config.tls_key_file, config.tls_ca_file
    if cert is None or key is None or ca is None:
        return None
    return tls.ServerTlsFiles(cert, key, ca)


class _Handlers:
    """Stands in for the server while the generated code registers the service, to
    collect its method handlers."""

    def __init__(self) -> None:
        self.service = ""
        self.handlers: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def add_generic_rpc_handlers(self, handlers: object) -> None:
        pass

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler[Any, Any]]
    ) -> None:
        self.service, self.handlers = service, dict(handlers)


def _add_storage_node(servicer: StorageNodeServicer, server: grpc.aio.Server) -> None:
    """The generated registration of the StorageNode service, with the requests of
    ``StoreBlob`` and ``StoreAndCertify`` read by :mod:`.data_parts` (sliver data as
    views of the received messages, not copies)."""
    collected = _Handlers()
    pb_grpc.add_StorageNodeServicer_to_server(servicer, cast(grpc.aio.Server, collected))
    collected.handlers["StoreBlob"] = grpc.stream_unary_rpc_method_handler(
        servicer.StoreBlob,
        request_deserializer=data_parts.parse,
        response_serializer=pb.StoreBlobResponse.SerializeToString,
    )
    collected.handlers["StoreAndCertify"] = grpc.stream_stream_rpc_method_handler(
        servicer.StoreAndCertify,
        request_deserializer=data_parts.parse_store_and_certify,
        response_serializer=pb.StoreAndCertifyReply.SerializeToString,
    )
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(collected.service, collected.handlers),)
    )
    # not in grpc's type stubs yet: the generated code calls it the same way
    cast(Any, server).add_registered_method_handlers(collected.service, collected.handlers)


async def start(config: NodeConfig) -> RunningNode:
    keypair = KeyPair.load(config.key_file)
    server_tls = _server_tls(config)
    store = Store(
        config.data_dir,
        map_size=config.store_map_size_gib << 30,
        disk_reserve=config.store_disk_reserve_bytes,
    )
    metrics = NodeMetrics()
    peers = ChannelPool(
        credentials=None if server_tls is None else server_tls.client,
        limits=dataclasses.replace(
            client.DEFAULT_LIMITS,
            max_sliver_bytes=config.max_sliver_bytes,
            max_stream_bytes=config.peer_stream_max_bytes,
        ),
    )
    ctx = NodeContext(config, keypair, store, peers, metrics)
    service = NodeService(ctx)
    await service.start()

    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", convert.MAX_MESSAGE_SIZE),
            ("grpc.max_send_message_length", convert.MAX_MESSAGE_SIZE),
            ("grpc.so_reuseport", 0),
        ],
        maximum_concurrent_rpcs=1024,
    )
    _add_storage_node(StorageNodeServicer(service), server)
    pb_grpc.add_AdminServicer_to_server(AdminServicer(service), server)
    health_servicer = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    address = f"{config.listen_host}:{config.grpc_port}"
    if server_tls is None:
        port = server.add_insecure_port(address)
    else:
        port = server.add_secure_port(address, server_tls.credentials())
    if port == 0:
        raise OSError(f"cannot bind {config.listen_host}:{config.grpc_port}")
    await server.start()

    metrics_port: int | None = None
    metrics_server = None
    if config.metrics_port >= 0:
        metrics_server = prometheus_client.start_http_server(
            config.metrics_port, addr=config.listen_host, registry=metrics.registry
        )
        metrics_port = metrics_server[0].server_port

    node = RunningNode(config, service, server, health_servicer, port, metrics_port, metrics_server)
    if config.runtime_file is not None:
        tmp = config.runtime_file.with_name(f".{config.runtime_file.name}.tmp")
        tmp.write_text(
            json.dumps({"grpc_port": port, "metrics_port": metrics_port, "pid": os.getpid()})
        )
        os.replace(tmp, config.runtime_file)
    for name in ("", "walrus.node.v1.StorageNode"):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "node_serving",
        name=config.name,
        endpoint=node.endpoint,
        metrics_port=metrics_port,
        tls=server_tls is not None,
    )
    return node


async def serve(config: NodeConfig) -> None:
    """Run until SIGTERM or SIGINT, then stop gracefully."""
    node = await start(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("node_stopping", grace_seconds=config.shutdown_grace_seconds)
    await node.stop()
    log.info("node_stopped")
