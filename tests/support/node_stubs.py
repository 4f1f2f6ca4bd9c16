"""Cheap storage-node stand-ins for measuring the operator at scale: `StubNode`, `stub_nodes`.

Each stub is a real gRPC server in this process (bound to 127.0.0.1, port 0) that answers
what the operator asks a node — `GetNodeInfo`, `GetCommittee`, `grpc.health.v1` Check,
and the Admin `SetCommittee`/`GetSyncStatus` — from a few fields in memory, and counts the
calls. A stub installs whatever committee file it is sent (its epoch and this node's
shards, read from the JSON) without checking the admin signature: it stands in for the
cost of a node, not for its checks, which the real node's tests cover. A stub can be
`down` (every call fails UNAVAILABLE), as a dead node looks to the operator.
"""

from __future__ import annotations

import collections
import contextlib
import json
from collections.abc import AsyncIterator

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from walrus_node.protocol import keys
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

__all__ = ["StubNode", "stub_nodes"]


class StubNode(pb_grpc.StorageNodeServicer, pb_grpc.AdminServicer, health_pb2_grpc.HealthServicer):
    def __init__(self, name: str, key: keys.KeyPair, calls: collections.Counter[str]) -> None:
        self.name = name
        self.key = key
        self.calls = calls
        self.committee = b""
        self.epoch = 0
        self.shards: tuple[int, ...] = ()
        self.down = False
        self.endpoint = ""

    async def _count(self, method: str, context: grpc.aio.ServicerContext) -> None:
        self.calls[method] += 1
        if self.down:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "stub is down")

    async def GetNodeInfo(
        self, request: pb.GetNodeInfoRequest, context: grpc.aio.ServicerContext
    ) -> pb.NodeInfo:
        await self._count("GetNodeInfo", context)
        return pb.NodeInfo(
            name=self.name,
            public_key=self.key.public_key,
            epoch=self.epoch,
            shards=list(self.shards),
            shard_states=[pb.ShardState(shard=s, state="active") for s in self.shards],
            phase="Stable",
        )

    async def GetCommittee(
        self, request: pb.GetCommitteeRequest, context: grpc.aio.ServicerContext
    ) -> pb.CommitteeInfo:
        await self._count("GetCommittee", context)
        return pb.CommitteeInfo(committee_json=self.committee)

    async def SetCommittee(
        self, request: pb.AdminRequest, context: grpc.aio.ServicerContext
    ) -> pb.SetCommitteeResponse:
        await self._count("SetCommittee", context)
        data = json.loads(request.payload)
        self.committee = request.payload
        self.epoch = int(data["epoch"])
        mine = [m for m in data.get("members", []) if m.get("name") == self.name]
        self.shards = tuple(mine[0]["shards"]) if mine else ()
        return pb.SetCommitteeResponse(epoch=self.epoch, phase=str(data.get("phase", "")))

    async def GetSyncStatus(
        self, request: pb.AdminRequest, context: grpc.aio.ServicerContext
    ) -> pb.SyncStatus:
        await self._count("GetSyncStatus", context)
        return pb.SyncStatus(epoch=self.epoch, epoch_sync_done=True)

    async def Check(
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext
    ) -> health_pb2.HealthCheckResponse:
        await self._count("Check", context)
        return health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.SERVING)


@contextlib.asynccontextmanager
async def stub_nodes(count: int) -> AsyncIterator[tuple[list[StubNode], collections.Counter[str]]]:
    """`count` stubs named `node-<i>`, serving until the context ends; and the call counter."""
    calls: collections.Counter[str] = collections.Counter()
    servers: list[grpc.aio.Server] = []
    stubs = []
    try:
        for i in range(count):
            stub = StubNode(f"node-{i}", keys.KeyPair.generate(), calls)
            server = grpc.aio.server()
            pb_grpc.add_StorageNodeServicer_to_server(stub, server)
            pb_grpc.add_AdminServicer_to_server(stub, server)
            health_pb2_grpc.add_HealthServicer_to_server(stub, server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            stub.endpoint = f"127.0.0.1:{port}"
            servers.append(server)
            stubs.append(stub)
        yield stubs, calls
    finally:
        for server in servers:
            await server.stop(grace=None)
