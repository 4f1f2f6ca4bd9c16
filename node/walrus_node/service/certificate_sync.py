"""Certificate catch-up: learning of blobs certified while this node was not listening.

Who calls it: :mod:`.node` runs :meth:`CertificateSync.run` in the background.

Certificates reach nodes when the writing client broadcasts them. A node that was down,
partitioned or restarting misses that broadcast; here it asks every peer, periodically,
for the certificates the peer accepted after the last one seen from it (each node keeps
an append-only certificate log). Each certificate is verified against the committee
before it is acted on, so a lying peer cannot make this node store anything. The cursor
per peer is persisted, so a restart resumes instead of rescanning.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Awaitable, Callable

import structlog

from walrus_node.committee.member import Member
from walrus_node.protocol import errors, keys
from walrus_node.protocol.errors import PeerError
from walrus_node.protocol.messages import Certificate
from walrus_node.service.context import NodeContext

__all__ = ["CertificateSync"]

log = structlog.get_logger("walrus.certificate_sync")

_BATCH = 256
_PEER_TIMEOUT = 10.0

Accept = Callable[[Certificate], Awaitable[object]]


class CertificateSync:
    def __init__(self, ctx: NodeContext, accept: Accept) -> None:
        self._ctx = ctx
        self._accept = accept
        self._poke = asyncio.Event()

    async def catch_up(self) -> None:
        """Ask every peer once, now, and return when all have answered or failed."""
        if self._ctx.committees is not None:
            await asyncio.gather(*(self._from_peer(m) for m in self._peers()))

    def poke(self) -> None:
        """Poll now instead of waiting for the next interval."""
        self._poke.set()

    async def run(self) -> None:
        while True:
            await self.catch_up()
            self._poke.clear()
            try:
                async with asyncio.timeout(self._ctx.config.certificate_poll_seconds):
                    await self._poke.wait()
            except TimeoutError:
                pass

    def _peers(self) -> list[Member]:
        c = self._ctx.require_committees()
        members = {m.public_key: m for m in c.current.members}
        if c.state.previous is not None:
            for m in c.state.previous.members:
                members.setdefault(m.public_key, m)
        members.pop(self._ctx.keypair.public_key, None)
        return list(members.values())

    async def _from_peer(self, member: Member) -> None:
        ctx = self._ctx
        key = f"certificate-cursor/{keys.encode_public_key(member.public_key)}"
        raw = await ctx.read(ctx.store.get_state, key)
        cursor = struct.unpack("<Q", raw)[0] if raw else 0
        peer = ctx.peers.peer(member.endpoint, member.name)
        try:
            async with asyncio.timeout(_PEER_TIMEOUT):
                info = await peer.get_node_info()
                if info.certificates_logged < cursor:  # the peer's store was replaced
                    cursor = 0
                while True:
                    batch = await peer.list_certificates(cursor, _BATCH)
                    for sequence, certificate in batch:
                        try:
                            await self._accept(certificate)
                        except errors.NodeError as e:
                            log.info("peer_certificate_refused", peer=member.name, error=str(e))
                        cursor = max(cursor, sequence)
                    if batch:
                        await ctx.write(ctx.store.put_state, key, struct.pack("<Q", cursor))
                    if len(batch) < _BATCH:
                        break
        except (PeerError, TimeoutError) as e:
            log.debug("peer_certificates_unavailable", peer=member.name, error=str(e))
