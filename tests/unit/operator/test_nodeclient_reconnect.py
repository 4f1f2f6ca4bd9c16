"""The operator's channel to a node that went away and came back (a restarted pod): the
next report reaches it at once, on a new channel, instead of failing until gRPC's own
reconnect back-off (and, for a DNS name, its 30 s re-resolution limit) runs out.

Against real gRPC servers on loopback that answer only the health service: a report that
reaches the node comes back UNIMPLEMENTED (no StorageNode service), one that does not
reach it UNAVAILABLE.
"""

from __future__ import annotations

import grpc.aio
import pytest
from grpc_health.v1 import health, health_pb2_grpc

from walrus_node.protocol import keys as node_keys
from walrus_operator import nodeclient


async def _server(port: int) -> tuple[grpc.aio.Server, int]:
    server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    health_pb2_grpc.add_HealthServicer_to_server(health.aio.HealthServicer(), server)
    bound = server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    return server, bound


@pytest.mark.asyncio
@pytest.mark.timeout(60)
async def test_a_node_back_on_its_address_is_reached_at_the_next_report() -> None:
    client = nodeclient.GrpcNodeClient(timeout=5.0)
    admin = node_keys.KeyPair.generate()
    server, port = await _server(0)
    endpoint = f"127.0.0.1:{port}"
    try:
        first = await client.report(endpoint, admin, sync=False)
        assert "UNIMPLEMENTED" in first.error  # reached
        await server.stop(grace=None)  # the pod goes away...
        down = await client.report(endpoint, admin, sync=False)
        assert not down.reachable
        assert "UNAVAILABLE" in down.error
        server, bound = await _server(port)  # ...and its replacement listens
        assert bound == port, "the port was taken meanwhile"
        # Within gRPC's first reconnect back-off (1 s): the old channel would still fail.
        back = await client.report(endpoint, admin, sync=False)
        assert "UNIMPLEMENTED" in back.error, back.error
    finally:
        await server.stop(grace=None)
        await client.close()
