"""Certificate catch-up: learning of blobs certified while this node was not listening.

Who calls it: :mod:`.node` runs :meth:`CertificateSync.run` in the background.

Certificates reach nodes when the writing client broadcasts them. A node that was down,
partitioned or restarting misses that broadcast; here it asks every peer, periodically,
for the certificates the peer accepted after the last one seen from it (each node keeps
an append-only certificate log). One that would change nothing here (most of them: the
writing client delivered it too) is skipped before its signatures are checked; any other
is verified against the committee of
its epoch before it is acted on (:meth:`Registrations.accept_certificate`), so a lying
peer cannot make this node store anything. The cursor per peer is persisted, so a restart
resumes instead of rescanning.

A certificate from a past epoch whose committee this node never knew (it joined later)
cannot be checked here. It is *vouched for* instead (:class:`Vouches`): once members of
the current committee holding more than ``f`` shards have listed it in their logs, at
least one of them is honest and accepted it after checking it (directly, or vouched for
in turn), and it is recorded (:meth:`Registrations.accept_vouched`). Vouches are kept in
memory (at most ``pending_vouches`` certificates, at most ``pending_vouches_per_peer``
of them first listed by one member, and a fair share for every member, so that a liar
listing made-up ones cannot keep the real ones out; those whose registration ended are
dropped at every round). What survives a restart is the cursor, and the one persisted
for a member stays before the oldest certificate it listed that still waits for more
vouches (as for deletions, below), so a restarted node hears those listings again
instead of needing more than ``f`` shards' worth of *other* members for them.

Deletions travel the same way. Each node logs the deletions it applied, as the owner
signed them with the owner key (:meth:`Lifetime.accept_relayed`); in the same round, after
a peer's certificates, this node lists the peer's deletions after the cursor it keeps for
that peer (persisted too), skips one that would change nothing here before checking its
signature, and checks every other one against the owner key it names before applying it
with the rules of :mod:`.ownership`: a lying peer cannot delete what the owner did not.
A deletion of a blob this node does not know yet (its certificate is still to come, from
another peer), or of a known blob that has no room to remember another early deletion
(:func:`.ownership.lacks_room`: made-up owners' deletions fill it; the owner's
certificate is still to come), waits in memory
(:class:`.pending_deletions.PendingDeletions`: at most ``pending_deletions``, at most
``pending_deletions_per_peer`` relayed by one peer, and a fair share for every peer
however many flood) and is tried again after every round. That table is in memory; what
survives a restart is the cursor, and the one persisted for a peer stays before the
oldest deletion it relayed that still waits (the cursor in memory moves on), so a
restarted node lists those deletions again and they wait once more, instead of being
forgotten while their blob's certificate is still to come.

A peer's ``NodeInfo`` says how far its two logs go, so a log that did not grow since
the cursor costs no listing call: most rounds find nothing new.

Catch-ups are shared: a caller waits for the next *round* (one question to every peer)
that starts after its call, and every caller that arrives before that round starts joins
it. At an epoch change every gained shard asks for a catch-up before its recovery pass
(91 shards on a node joining a 1000-shard network), and the shards then share a few
rounds instead of asking every peer once each.
"""

from __future__ import annotations

import asyncio
import hashlib
import struct

import structlog

from walrus_node.committee.member import Member
from walrus_node.protocol import errors, keys
from walrus_node.protocol.errors import PeerError
from walrus_node.protocol.messages import Certificate, Deletion, SignerWeights
from walrus_node.service.context import NodeContext
from walrus_node.service.lifetime import Lifetime
from walrus_node.service.peers import Peer
from walrus_node.service.pending_deletions import PendingDeletions
from walrus_node.service.registrations import Registrations

__all__ = ["CertificateSync", "Vouches"]

log = structlog.get_logger("walrus.certificate_sync")

_BATCH = 256
_PEER_TIMEOUT = 10.0


class Vouches:
    """Who listed which uncheckable certificate, bounded per lister; pure bookkeeping, no
    I/O.

    A certificate of an epoch whose committee this node never knew cannot be checked here,
    so a lying member can list made-up ones as easily as honest members list real ones.
    Each waiting certificate is charged to the member that listed it first (a lister
    outside the current committee, whose listing counts for nothing, starts none); a member
    is charged at most ``per_voucher`` of them, and when the table (``capacity``) is full a
    member charged fewer takes the place of the oldest certificate of the member charged
    the most, if that one is charged at least two more: so a member below its fair share
    always gets a certificate in, however many the liars list (as
    :class:`.pending_deletions.PendingDeletions` does for deletions). A certificate whose
    registration has ended leaves at :meth:`prune`: recording it would keep nothing.
    """

    def __init__(self, capacity: int, per_voucher: int) -> None:
        self._capacity = capacity
        self._per_voucher = per_voucher
        self._pending: dict[bytes, tuple[Certificate, set[bytes]]] = {}
        self._listed: dict[bytes, dict[bytes, int]] = {}
        """Per member, the waiting certificates it listed and where in its log (never
        empty): what pins its persisted cursor (:meth:`oldest_position`)."""
        self._charged: dict[bytes, bytes] = {}
        """Each waiting certificate's key and the member it is charged to."""
        self._by_voucher: dict[bytes, dict[bytes, None]] = {}
        """Per member, the keys charged to it, oldest first (never empty)."""

    def __len__(self) -> int:
        return len(self._pending)

    def held_by(self, voucher: bytes) -> int:
        """Waiting certificates charged to ``voucher``."""
        return len(self._by_voucher.get(voucher, ()))

    def oldest_position(self, voucher: bytes) -> int | None:
        """Where in ``voucher``'s log the oldest waiting certificate it listed is."""
        listed = self._listed.get(voucher)
        return min(listed.values()) if listed else None

    def add(
        self, certificate: Certificate, voucher: bytes, committee: SignerWeights, position: int = 0
    ) -> int | None:
        """Count ``voucher``'s listing (at ``position`` of its log); return the vouchers'
        shard weight once it exceeds ``f`` of ``committee`` (the certificate then leaves
        the table), else None."""
        key = hashlib.sha256(certificate.to_bytes()).digest()
        entry = self._pending.get(key)
        if entry is None:
            if committee.shard_count_of(voucher) == 0 or not self._room_for(voucher):
                return None
            entry = self._pending[key] = (certificate, set())
            self._charged[key] = voucher
            self._by_voucher.setdefault(voucher, {})[key] = None
        entry[1].add(voucher)
        listed = self._listed.setdefault(voucher, {})
        listed[key] = min(position, listed.get(key, position))
        weight = sum(committee.shard_count_of(k) for k in entry[1])
        if weight > (committee.n_shards - 1) // 3:
            self._drop(key)
            return weight
        return None

    def prune(self, epoch: int) -> None:
        """Forget the certificates whose registration ended by ``epoch``."""
        for key, (certificate, _) in list(self._pending.items()):
            if certificate.registration.end_epoch <= epoch:
                self._drop(key)

    def _room_for(self, voucher: bytes) -> bool:
        held = self.held_by(voucher)
        if held >= self._per_voucher or self._capacity < 1:
            return False
        if len(self._pending) < self._capacity:
            return True
        heaviest = max(self._by_voucher, key=lambda v: len(self._by_voucher[v]))
        if len(self._by_voucher[heaviest]) < held + 2:
            return False  # every member is charged about as much as this one: fair
        self._drop(next(iter(self._by_voucher[heaviest])))
        return True

    def _drop(self, key: bytes) -> None:
        entry = self._pending.pop(key, None)
        for lister in entry[1] if entry is not None else ():
            listed = self._listed[lister]
            del listed[key]
            if not listed:
                del self._listed[lister]
        voucher = self._charged.pop(key, None)
        if voucher is not None:
            mine = self._by_voucher[voucher]
            del mine[key]
            if not mine:
                del self._by_voucher[voucher]


class CertificateSync:
    def __init__(self, ctx: NodeContext, registrations: Registrations, lifetime: Lifetime) -> None:
        self._ctx = ctx
        self._registrations = registrations
        self._lifetime = lifetime
        config = ctx.config
        self._pending = PendingDeletions(
            config.pending_deletions, config.pending_deletions_per_peer
        )
        """Checked deletions of blobs not known here yet, and who relayed them."""
        self._vouches = Vouches(config.pending_vouches, config.pending_vouches_per_peer)
        self._cursors: dict[str, int] = {}
        """Per peer and log (certificates, deletions), how far it was listed (from the
        persisted cursor at the first round after a start)."""
        self._persisted: dict[str, int] = {}
        """Per peer and log, the cursor last persisted."""
        self._poke = asyncio.Event()
        self._queued: asyncio.Future[None] | None = None
        """The round not started yet, which new callers join."""
        self._latest: asyncio.Future[None] | None = None
        """The round started or queued last."""
        self.rounds = 0
        """Rounds started (each asks every peer once)."""

    async def catch_up(self) -> None:
        """Return once every peer has been asked, in a round that started after this
        call, and has answered or failed."""
        if self._ctx.committees is None:
            return
        if self._queued is None:
            self._queued = self._latest = asyncio.ensure_future(self._round(self._latest))
        await asyncio.shield(self._queued)

    async def _round(self, before: asyncio.Future[None] | None) -> None:
        if before is not None:
            await asyncio.gather(before, return_exceptions=True)
        self._queued = None  # callers from now on wait for the next round
        self.rounds += 1
        if len(self._vouches):  # certificates whose registration ended can go
            self._vouches.prune(self._ctx.require_committees().epoch)
        await asyncio.gather(*(self._from_peer(m) for m in self._peers()))
        await self._retry_pending()

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

    async def _offer(self, member: Member, certificate: Certificate, position: int) -> None:
        if await self._registrations.adds_nothing(certificate):
            return  # delivered here already (by the client, or by another peer)
        try:
            await self._registrations.accept_certificate(certificate)
            return
        except errors.StaleEpoch as e:
            if not self._registrations.unknown_past(certificate):
                log.info("peer_certificate_refused", peer=member.name, error=str(e))
                return
        except errors.NodeError as e:
            log.info("peer_certificate_refused", peer=member.name, error=str(e))
            return
        current = self._ctx.require_committees().current
        weight = self._vouches.add(certificate, member.public_key, current, position)
        if weight is None:
            return
        try:
            await self._registrations.accept_vouched(certificate, weight)
        except errors.NodeError as e:
            log.info("vouched_certificate_refused", error=str(e))

    async def _offer_deletion(self, member: Member, deletion: Deletion, position: int) -> bool:
        """Check and apply, or keep waiting, one deletion ``member`` listed at ``position``
        of its log; False if it was to wait and the table of waiting deletions dropped it."""
        if await self._lifetime.deletes_nothing(deletion):
            return True  # applied here already (from the owner, or from another peer)
        try:
            await self._lifetime.accept_relayed(deletion)
        except (errors.NotFound, errors.NoRoomForDeletion):  # checked: the owner's signature
            return self._pending.add(deletion, member.public_key, position)
        except errors.NodeError as e:
            log.info("peer_deletion_refused", peer=member.name, error=str(e))
        return True

    async def _retry_pending(self) -> None:
        """Apply the waiting deletions that can be applied now (their blob is known here
        and has room for them, or they remove a registration: one read of each blob's
        info per round; the signature was checked when it arrived and is checked again
        only then), and forget those that can no longer remove anything. One applied
        may leave no room for the next of the same blob: that one waits on."""
        current = []
        for deletion in self._pending:
            if self._lifetime.obsolete(deletion):
                self._pending.discard(deletion)
            else:
                current.append(deletion)
        if not current:
            return
        waiting = self._lifetime.must_wait(current)
        for deletion in current:
            if deletion in waiting:
                continue
            try:
                await self._lifetime.accept_relayed(deletion)
            except (errors.NotFound, errors.NoRoomForDeletion):
                continue
            except errors.NodeError as e:
                log.info("pending_deletion_refused", error=str(e))
            self._pending.discard(deletion)

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
        peer = ctx.peers.peer(member.endpoint, member.name)
        try:
            async with asyncio.timeout(_PEER_TIMEOUT):
                info = await peer.get_node_info()
                await self._certificates_from(member, peer, info.certificates_logged)
        except (PeerError, TimeoutError) as e:
            log.debug("peer_certificates_unavailable", peer=member.name, error=str(e))
            return
        try:  # after the peer's certificates: most deletions then find their blob here
            async with asyncio.timeout(_PEER_TIMEOUT):
                await self._deletions_from(member, peer, info.deletions_logged)
        except (PeerError, TimeoutError) as e:
            log.debug("peer_deletions_unavailable", peer=member.name, error=str(e))

    async def _cursor(self, key: str, logged: int) -> int:
        ctx = self._ctx
        raw = await ctx.read(ctx.store.get_state, key)
        cursor: int = struct.unpack("<Q", raw)[0] if raw else 0
        return 0 if logged < cursor else cursor  # less: the peer's store was replaced

    async def _start_cursor(self, key: str, logged: int) -> int:
        """Where to list a peer's log from: the cursor in memory, or after a start the
        persisted one; 0 if the log is shorter than that (the peer's store was replaced)."""
        cursor = self._cursors.get(key)
        if cursor is None:
            cursor = self._persisted[key] = await self._cursor(key, logged)
        elif logged < cursor:
            cursor = 0
        self._cursors[key] = cursor
        return cursor

    async def _persist_cursor(self, key: str, waiting: int | None) -> None:
        """Persist a peer's cursor, kept before ``waiting`` (the oldest entry of that log
        that still waits here: a restart lists it again), if it moved."""
        cursor = self._cursors.get(key)
        if cursor is None:
            return
        durable = cursor if waiting is None else min(cursor, waiting - 1)
        if durable != self._persisted.get(key):
            ctx = self._ctx
            await ctx.write(ctx.store.put_state, key, struct.pack("<Q", max(durable, 0)))
            self._persisted[key] = durable

    async def _certificates_from(self, member: Member, peer: Peer, logged: int) -> None:
        key = f"certificate-cursor/{keys.encode_public_key(member.public_key)}"
        cursor = await self._start_cursor(key, logged)
        while logged > cursor:  # the peer's NodeInfo said how far its log goes
            batch = await peer.list_certificates(cursor, _BATCH)
            for sequence, certificate in batch:
                await self._offer(member, certificate, sequence)
                cursor = max(cursor, sequence)
                self._cursors[key] = cursor
            if batch:
                await self._persist_cursor(key, self._vouches.oldest_position(member.public_key))
            if len(batch) < _BATCH:
                break
        # the certificates it listed that waited may have counted, or ended, since
        await self._persist_cursor(key, self._vouches.oldest_position(member.public_key))

    async def _deletions_from(self, member: Member, peer: Peer, logged: int) -> None:
        key = f"deletion-cursor/{keys.encode_public_key(member.public_key)}"
        cursor = await self._start_cursor(key, logged)
        await self._list_deletions(member, peer, logged, key, cursor)
        # the deletions it relayed that waited may have been applied, or gone, since
        await self._persist_cursor(key, self._pending.oldest_position(member.public_key))

    async def _list_deletions(
        self, member: Member, peer: Peer, logged: int, key: str, cursor: int
    ) -> None:
        while logged > cursor:
            batch = await peer.list_deletions(cursor, _BATCH)
            dropped = 0
            for sequence, deletion in batch:
                dropped += not await self._offer_deletion(member, deletion, sequence)
                cursor = max(cursor, sequence)
                self._cursors[key] = cursor
            if dropped:  # one line per batch: a flooding peer does not flood the log
                log.info(
                    "pending_deletions_dropped",
                    peer=member.name,
                    dropped=dropped,
                    held=self._pending.held_by(member.public_key),
                    pending=len(self._pending),
                )
            if batch:
                await self._persist_cursor(key, self._pending.oldest_position(member.public_key))
            if len(batch) < _BATCH:
                break
