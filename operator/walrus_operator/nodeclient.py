"""How the operator talks to running storage nodes: ask for a report, install a committee.

`NodeClient` is the seam the epoch controller uses; `GrpcNodeClient` implements it with
the node's own async gRPC client (`walrus_node.transport.client`) over one cached channel
per endpoint. A report is four calls: `GetNodeInfo` (reachability, identity, epoch,
shards and their states), the standard `grpc.health.v1` check (SERVING or not),
`GetCommittee` (which committee the node runs, as a `reports.fingerprint`) and, when the
controller waits for the node's shard sync, the signed `Admin/GetSyncStatus`.
`set_committee` is the signed `Admin/SetCommittee`, which the node applies at once.

With node TLS (`ChannelTls`: the network's CA and the operator's client certificate) the
channel is mutual TLS and the node is verified under its committee name (`server_name`,
the gRPC target name override), not under its address (docs/operator.md, "TLS"). A
channel whose credentials changed (a rotated certificate) is replaced.

A channel whose node did not answer is closed and dropped, so that the next report opens
a new one: it resolves the node's DNS name afresh and connects at once. Kept, it would
hold on to the address of a pod that is gone (gRPC re-resolves a name at most every 30 s)
and wait out its own reconnect back-off (up to two minutes), long after the restarted
pod serves; that was most of the time a rolling restart spent per pod.

Every failure (gRPC status, timeout, refused connection, garbage answer) becomes a
`NodeReport` with `reachable=False` or an error string: nothing from gRPC reaches the
handlers. This and the transport client are the only places the operator touches gRPC.
Built in `handlers` at startup; called by `walrus_operator.epochs`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import typing

import grpc
import grpc.aio
from grpc_health.v1 import health_pb2, health_pb2_grpc

from walrus_node.protocol import keys
from walrus_node.transport import client as transport
from walrus_operator import reports

__all__ = ["ChannelTls", "GrpcNodeClient", "NodeClient"]

_MAX_CHANNELS = 4096
"""Channels kept open; the oldest is closed beyond that (pod IPs come and go)."""

_FAILURES = (
    transport.RpcError,
    grpc.RpcError,
    grpc.aio.UsageError,
    asyncio.TimeoutError,
    OSError,
    ValueError,
)


def _network_id(committee: dict[str, typing.Any]) -> str:
    """The network ID of the committee a node reports (admin requests name it)."""
    params = committee.get("params")
    value = params.get("network_id", "") if isinstance(params, dict) else ""
    return value if isinstance(value, str) else ""


@dataclasses.dataclass(frozen=True)
class ChannelTls:
    """Mutual TLS towards a network's nodes: its CA and the operator's certificate (PEM)."""

    ca_pem: bytes
    certificate_pem: bytes
    key_pem: bytes

    def fingerprint(self) -> str:
        return hashlib.sha256(self.ca_pem + self.certificate_pem + self.key_pem).hexdigest()


class NodeClient(typing.Protocol):
    async def report(
        self,
        endpoint: str,
        admin: keys.KeyPair,
        *,
        sync: bool,
        server_name: str = "",
        tls: ChannelTls | None = None,
    ) -> reports.NodeReport:
        """Ask the node about itself (`sync`: also its shard-sync progress); never raises.
        `tls`: call over mutual TLS, verifying the node as `server_name`."""

    async def set_committee(
        self,
        endpoint: str,
        admin: keys.KeyPair,
        committee_file: bytes,
        *,
        server_name: str = "",
        tls: ChannelTls | None = None,
    ) -> str | None:
        """Install a committee file on the node; None on success, else what went wrong."""

    async def close(self) -> None:
        """Close the connections."""


def _describe(error: BaseException) -> str:
    if isinstance(error, transport.RpcError):
        return f"{error.method}: {error.code}: {error.details}"
    if isinstance(error, grpc.aio.AioRpcError):
        return f"{error.code().name}: {error.details()}"
    if isinstance(error, asyncio.TimeoutError):
        return "timed out"
    return f"{type(error).__name__}: {error}"


class GrpcNodeClient:
    """`NodeClient` over gRPC; `timeout` is the deadline of each call, in seconds."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._channels: dict[str, tuple[str, grpc.aio.Channel]] = {}

    async def _channel(
        self, endpoint: str, server_name: str = "", tls: ChannelTls | None = None
    ) -> grpc.aio.Channel:
        identity = "" if tls is None else f"{server_name}/{tls.fingerprint()}"
        cached = self._channels.get(endpoint)
        if cached is not None and cached[0] == identity:
            return cached[1]
        if cached is not None:  # other credentials (rotated) or TLS turned on or off
            del self._channels[endpoint]
            await cached[1].close(grace=None)
        if len(self._channels) >= _MAX_CHANNELS:
            oldest = next(iter(self._channels))
            await self._channels.pop(oldest)[1].close(grace=None)
        options: list[tuple[str, typing.Any]] = list(transport.channel_options())
        if tls is None:
            channel = grpc.aio.insecure_channel(endpoint, options=options)
        else:
            credentials = grpc.ssl_channel_credentials(
                root_certificates=tls.ca_pem,
                private_key=tls.key_pem,
                certificate_chain=tls.certificate_pem,
            )
            if server_name:
                options.append(("grpc.ssl_target_name_override", server_name))
            channel = grpc.aio.secure_channel(endpoint, credentials, options=options)
        self._channels[endpoint] = (identity, channel)
        return channel

    async def _api(
        self, endpoint: str, server_name: str = "", tls: ChannelTls | None = None
    ) -> transport.NodeClient:
        channel = await self._channel(endpoint, server_name, tls)
        return transport.NodeClient(endpoint, channel, self._timeout)

    async def _serving(self, endpoint: str, server_name: str, tls: ChannelTls | None) -> bool:
        stub = health_pb2_grpc.HealthStub(await self._channel(endpoint, server_name, tls))
        try:
            reply = await stub.Check(
                health_pb2.HealthCheckRequest(service=""), timeout=self._timeout
            )
        except _FAILURES:
            return False
        return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)

    async def report(
        self,
        endpoint: str,
        admin: keys.KeyPair,
        *,
        sync: bool,
        server_name: str = "",
        tls: ChannelTls | None = None,
    ) -> reports.NodeReport:
        api = await self._api(endpoint, server_name, tls)
        try:
            info = await api.get_node_info()
        except _FAILURES as exc:
            await self._forget(endpoint)
            return reports.unreachable(_describe(exc))
        problems = []
        committee = None
        progress = None
        committee_json: dict[str, typing.Any] = {}
        if info.epoch > 0:
            try:
                committee_json = json.loads(await api.get_committee())
                committee = reports.fingerprint(committee_json)
            except _FAILURES as exc:
                problems.append(_describe(exc))
            if sync:
                try:
                    network = _network_id(committee_json)
                    status = await api.get_sync_status(
                        admin, network_id=network, target=info.public_key
                    )
                except _FAILURES as exc:
                    problems.append(_describe(exc))
                else:
                    progress = reports.SyncReport(
                        epoch=status.epoch,
                        shards_total=status.shards_total,
                        shards_done=status.shards_done,
                        bytes_received=status.bytes_received,
                        done=status.epoch_sync_done,
                    )
        return reports.NodeReport(
            reachable=True,
            error="; ".join(problems),
            serving=await self._serving(endpoint, server_name, tls),
            name=info.name,
            public_key=keys.encode_public_key(info.public_key),
            epoch=info.epoch,
            phase=info.phase,
            shards=tuple(info.shards),
            shard_states=tuple(info.shard_states),
            committee=committee,
            sync=progress,
        )

    async def set_committee(
        self,
        endpoint: str,
        admin: keys.KeyPair,
        committee_file: bytes,
        *,
        server_name: str = "",
        tls: ChannelTls | None = None,
    ) -> str | None:
        try:
            api = await self._api(endpoint, server_name, tls)
            # Admin requests are bound to the node that must obey: sign for the key the
            # node at this endpoint has (a request for it is useless to any other node).
            target = (await api.get_node_info()).public_key
            await api.set_committee(admin, committee_file, target=target)
        except _FAILURES as exc:
            return _describe(exc)
        return None

    async def _forget(self, endpoint: str) -> None:
        """Close and drop the channel to a node that did not answer (see the module
        docstring); the next call opens a new one."""
        cached = self._channels.pop(endpoint, None)
        if cached is not None:
            await cached[1].close(grace=None)

    async def close(self) -> None:
        channels, self._channels = self._channels, {}
        for _, channel in channels.values():
            await channel.close(grace=None)
