"""Blob sync: recovering the slivers of certified blobs that this node lacks.

Who calls it: :mod:`.node` enqueues a blob when it accepts a certificate for a blob whose
slivers it does not hold (it was down, slow, or the client gave up on it), when a stored
sliver fails its checksum, and at start-up for every certified blob still incomplete.

For each blob: fetch and verify the metadata from any peer if missing; then rebuild
every missing sliver of the shards asked for in one round: the symbols this node can
cut from its own slivers, then **one** ``GetRecoverySymbolsBatch`` call per peer for all
the missing slivers (a peer expands each of its slivers once for all of them; a peer
without the call is asked sliver by sliver), until every sliver has enough: ``n - 2f``
symbols for a **secondary** sliver (cut from primary slivers), ``n - f`` for a
**primary** one (cut from secondary slivers). Peers still busy then are not waited for.
Secondary slivers are rebuilt and stored first, so that a primary sliver still short of
symbols can be cut from them. Each peer's symbols are verified against the metadata (in
one native call) before any is used, so a Byzantine peer costs time, not correctness.
A round asks for at most ``recovery_batch_bytes`` of symbols (targets x n x symbol
size); more slivers take more rounds. One blob is recovered by one caller at a time.
Work runs with bounded concurrency; a blob that cannot be completed yet is retried with
exponential back-off.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import random
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import structlog

from walrus_node.codec import errors as codec_errors
from walrus_node.codec import metadata as metadata_mod
from walrus_node.codec import recovery
from walrus_node.codec.inconsistency import InconsistencyProof
from walrus_node.codec.metadata import BlobId, BlobMetadata
from walrus_node.codec.params import SliverType
from walrus_node.committee.member import Member
from walrus_node.protocol.errors import PeerError
from walrus_node.service.context import NodeContext
from walrus_node.service.invalid_blobs import InvalidBlobs
from walrus_node.store.store import BlobInfo, BlobState, Store

__all__ = ["BlobSync"]

log = structlog.get_logger("walrus.blob_sync")

_MAX_BACKOFF = 60.0


class _NotYet(Exception):
    """Not enough peers answered; try again later."""


class _Invalid(Exception):
    """The blob is proven inconsistently encoded (and now recorded so)."""


Target = tuple[SliverType, int]
"""A sliver to rebuild: its type and index."""

Rebuilt = tuple[int, SliverType, int]
"""A sliver rebuilt and stored: its shard, type and size in bytes."""

Cut = tuple[int, SliverType, Callable[[memoryview], list[recovery.RecoverySymbol]]]
"""One source sliver to cut symbols from: its shard, its type, and ``make(sliver)``, run
on the stored sliver where it lies (``Store.with_sliver``)."""

SymbolCutter = Callable[[bytes, Sequence[Cut]], Awaitable[list[recovery.RecoverySymbol]]]
"""``cut(blob_id, cuts)``: the symbols of every cut whose sliver is stored, all made in
one worker-thread hop (a hop per sliver costs more than the cut itself at 1000 shards,
more still on a busy machine)."""


def cut_stored(store: Store, blob_id: bytes, cuts: Sequence[Cut]) -> list[recovery.RecoverySymbol]:
    """Run the cuts on the stored slivers of ``blob_id`` (those not stored give nothing);
    for a worker thread. A sliver failing its checksum raises ``CorruptSliverError``."""
    out: list[recovery.RecoverySymbol] = []
    for shard, sliver_type, make in cuts:
        symbols = store.with_sliver(shard, sliver_type, blob_id, make)
        if symbols is not None:
            out.extend(symbols)
    return out


def symbol_band_bytes(read_buffer_bytes: int, n_shards: int) -> int:
    """Bytes of each parity symbol computed at once when cutting a recovery symbol: one
    band of all ``n - k`` parity symbols then fits ``read_buffer_bytes`` (a multiple of
    4 KiB, at least 4 KiB)."""
    band = read_buffer_bytes // max(n_shards, 1)
    return max(4096, band - band % 4096)


def targets_per_round(batch_bytes: int, n_shards: int, symbol_size: int) -> int:
    """Slivers one batched recovery round asks for: each brings in up to one symbol from
    every shard (``n x symbol_size`` bytes), and a round stays within ``batch_bytes``
    (``recovery_batch_bytes``), with at least one sliver."""
    return max(1, batch_bytes // max(1, n_shards * symbol_size))


async def local_recovery_symbols(
    ctx: NodeContext,
    blob_id: bytes,
    metadata: BlobMetadata,
    targets: Sequence[Target],
    shards: Iterable[int],
    cut: SymbolCutter,
) -> list[recovery.RecoverySymbol]:
    """The recovery symbols for the `targets` that this node can make from the orthogonal
    slivers it stores on `shards`.

    One source sliver at a time, read where it lies in the store (no copy of it) and
    expanded once for all the targets it serves, in bands
    (:func:`walrus_node.codec.recovery.cut_symbols`), all of them in one call of ``cut``:
    what a call holds is the symbols it returns plus ``read_buffer_bytes`` of parity."""
    band = symbol_band_bytes(ctx.config.read_buffer_bytes, metadata.n_shards)
    wanted: dict[SliverType, list[int]] = {}
    for target_type, index in targets:
        indices = wanted.setdefault(target_type.orthogonal, [])
        if index not in indices:
            indices.append(index)
    cuts: list[Cut] = []
    for shard in shards:
        primary, secondary = ctx.slivers_for_shard(blob_id, shard)
        for source_type, indices in wanted.items():
            index = primary if source_type is SliverType.PRIMARY else secondary
            make = functools.partial(
                recovery.cut_symbols,
                metadata.params,
                source_type,
                index,
                symbol_size=metadata.symbol_size,
                target_indices=indices,
                band_bytes=band,
            )
            cuts.append((shard, source_type, make))
    return await cut(blob_id, cuts)


class BlobSync:
    def __init__(self, ctx: NodeContext, invalid: InvalidBlobs) -> None:
        self._ctx = ctx
        self._invalid = invalid
        self._due: dict[bytes, float] = {}
        self._attempts: dict[bytes, int] = {}
        self._running: set[bytes] = set()
        self._locks: dict[bytes, asyncio.Lock] = {}
        self._lock_users: dict[bytes, int] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def backlog(self) -> int:
        return len(self._due) + len(self._running)

    def enqueue(self, blob_id: bytes) -> None:
        if blob_id not in self._running:
            self._due.setdefault(blob_id, time.monotonic())
        self._idle.clear()
        self._ctx.metrics.recovery_backlog.set(self.backlog)
        self._wake.set()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def resume(self) -> None:
        """Queue every certified blob whose slivers are incomplete (after a restart)."""
        ctx = self._ctx
        if ctx.committees is None:
            return
        shards = list(ctx.settled_shards())
        if not shards:
            return
        infos = await ctx.read(lambda: list(ctx.store.blob_infos()))
        for blob_id, info in infos:
            if info.state is not BlobState.CERTIFIED:
                continue
            held = await ctx.read(ctx.store.count_slivers, blob_id, shards)
            if held < 2 * len(shards):
                self.enqueue(blob_id)

    async def run(self) -> None:
        limit = self._ctx.config.max_concurrent_blob_syncs
        tasks: set[asyncio.Task[None]] = set()
        try:
            while True:
                now = time.monotonic()
                for blob_id, due in sorted(self._due.items(), key=lambda kv: kv[1]):
                    if len(tasks) >= limit or due > now:
                        break
                    del self._due[blob_id]
                    self._running.add(blob_id)
                    task = asyncio.create_task(self._attempt(blob_id))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if not tasks and not self._due:
                    self._idle.set()
                self._wake.clear()
                next_due = min(self._due.values(), default=now + 3600) - time.monotonic()
                waiters: list[asyncio.Future[Any]] = [asyncio.ensure_future(self._wake.wait())]
                waiters.extend(tasks)
                await asyncio.wait(
                    waiters,
                    timeout=max(0.01, next_due),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                waiters[0].cancel()
        finally:
            for task in tasks:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _attempt(self, blob_id: bytes) -> None:
        ctx = self._ctx
        bid = str(BlobId(blob_id))
        done = False
        try:
            done = await self.sync_blob(blob_id)
        except asyncio.CancelledError:
            raise
        except (_NotYet, PeerError, codec_errors.CodecError) as e:
            log.info("blob_sync_retry", blob_id=bid, error=str(e))
        except Exception:
            log.exception("blob_sync_failed", blob_id=bid)
        finally:
            self._running.discard(blob_id)
        if done:
            self._attempts.pop(blob_id, None)
        else:
            ctx.metrics.recovery_failures.inc()
            attempts = self._attempts.get(blob_id, 0) + 1
            self._attempts[blob_id] = attempts
            delay = min(_MAX_BACKOFF, ctx.config.blob_sync_retry_seconds * 2 ** (attempts - 1))
            self._due[blob_id] = time.monotonic() + delay * random.uniform(0.8, 1.2)
        ctx.metrics.recovery_backlog.set(self.backlog)
        self._wake.set()

    # --- one blob ------------------------------------------------------------------------------

    def _peers(self) -> list[Member]:
        ctx = self._ctx
        c = ctx.require_committees()
        members = {m.public_key: m for m in c.current.members}
        if c.previous is not None:
            for m in c.previous.members:
                members.setdefault(m.public_key, m)
        members.pop(ctx.keypair.public_key, None)
        peers = list(members.values())
        random.shuffle(peers)
        return peers

    async def _fetch_metadata(self, blob_id: bytes) -> BlobMetadata:
        ctx = self._ctx
        n = ctx.require_committees().n_shards
        for member in self._peers():
            try:
                async with asyncio.timeout(self._ctx.config.recovery_peer_timeout_seconds):
                    data = await ctx.peers.peer(member.endpoint, member.name).get_metadata(blob_id)
                parsed = metadata_mod.verify_metadata(BlobId(blob_id), data, n)
            except (PeerError, TimeoutError, codec_errors.InvalidMetadataError) as e:
                log.debug("metadata_fetch_failed", peer=member.name, error=str(e))
                continue
            # Keeps the existing (certified) blob info: put_metadata never overwrites it.
            info = BlobInfo(BlobState.REGISTERED, int(time.time() * 1000))
            await ctx.write(ctx.store.put_metadata, blob_id, data, info)
            return parsed
        raise _NotYet("no peer returned valid metadata")

    async def sync_blob(self, blob_id: bytes, shards: Sequence[int] | None = None) -> bool:
        """Recover every missing sliver of the given shards (default: this node's settled
        shards); True when complete."""
        await self.recover(blob_id, shards)
        return True

    async def recover(self, blob_id: bytes, shards: Sequence[int] | None = None) -> list[Rebuilt]:
        """Recover every missing sliver of the given shards (default: this node's settled
        shards) and return those rebuilt; raises when some could not be yet. One blob is
        recovered by one caller at a time: a second caller waits, then finds what the
        first rebuilt already stored."""
        lock = self._locks.setdefault(blob_id, asyncio.Lock())
        self._lock_users[blob_id] = self._lock_users.get(blob_id, 0) + 1
        try:
            async with lock:
                return await self._sync_blob(blob_id, shards)
        except _Invalid:
            return []  # nothing to recover, ever: the blob is recorded invalid
        finally:
            self._lock_users[blob_id] -= 1
            if not self._lock_users[blob_id]:
                del self._lock_users[blob_id], self._locks[blob_id]

    async def _sync_blob(self, blob_id: bytes, shards: Sequence[int] | None) -> list[Rebuilt]:
        ctx = self._ctx
        info = await ctx.read(ctx.store.get_blob_info, blob_id)
        if info is None or info.state is not BlobState.CERTIFIED:
            return []
        if shards is None:
            shards = ctx.settled_shards()
        if not shards:
            return []
        metadata = await ctx.metadata(blob_id) or await self._fetch_metadata(blob_id)

        where: dict[Target, int] = {}  # each lacking sliver -> its shard
        for shard in shards:
            primary, secondary = ctx.slivers_for_shard(blob_id, shard)
            for sliver_type, index in (
                (SliverType.PRIMARY, primary),
                (SliverType.SECONDARY, secondary),
            ):
                if not await ctx.read(ctx.store.has_sliver, shard, sliver_type, blob_id):
                    where[(sliver_type, index)] = shard
        # secondary slivers first: a primary one short of symbols may then use them
        targets = sorted(where, key=lambda t: (t[0] is SliverType.PRIMARY, t[1]))
        step = targets_per_round(
            ctx.config.recovery_batch_bytes, metadata.n_shards, metadata.symbol_size
        )
        rebuilt: list[Rebuilt] = []
        for first in range(0, len(targets), step):
            rebuilt += await self._recover_round(
                blob_id, metadata, {t: where[t] for t in targets[first : first + step]}
            )
        return rebuilt

    async def _local_symbols(
        self, blob_id: bytes, metadata: BlobMetadata, targets: Sequence[Target]
    ) -> list[recovery.RecoverySymbol]:
        ctx = self._ctx

        async def cut(blob_id: bytes, cuts: Sequence[Cut]) -> list[recovery.RecoverySymbol]:
            return await ctx.compute(cut_stored, ctx.store, blob_id, cuts)

        return await local_recovery_symbols(ctx, blob_id, metadata, targets, ctx.my_shards(), cut)

    async def _check_claims(self, blob_id: bytes, claims: Sequence[Member]) -> None:
        """Ask the peers that said the blob is invalid for their proof; raise
        :class:`_Invalid` once one checks (the blob is then recorded invalid here)."""
        for member in claims:
            try:
                async with asyncio.timeout(self._ctx.config.recovery_peer_timeout_seconds):
                    peer = self._ctx.peers.peer(member.endpoint, member.name)
                    status = await peer.get_blob_status(blob_id, with_proof=True)
            except (PeerError, TimeoutError):
                continue
            if await self._invalid.check_claim(blob_id, status, member.name):
                raise _Invalid

    async def _ask(
        self, member: Member, blob_id: bytes, targets: Sequence[Target]
    ) -> Sequence[recovery.RecoverySymbol]:
        """A peer's symbols for the targets: one batched call, or one call per target to
        a peer without it (UNIMPLEMENTED)."""
        peer = self._ctx.peers.peer(member.endpoint, member.name)
        async with asyncio.timeout(self._ctx.config.recovery_peer_timeout_seconds):
            try:
                return await peer.get_recovery_symbols_batch(blob_id, targets)
            except PeerError as e:
                if getattr(e, "code", "") != "UNIMPLEMENTED":
                    raise
            self._ctx.metrics.recovery_requests.labels(kind="single").inc(len(targets))
            answers = await asyncio.gather(
                *(peer.get_recovery_symbols(blob_id, t, i) for t, i in targets),
                return_exceptions=True,
            )
        got = [s for a in answers if not isinstance(a, BaseException) for s in a]
        if not got:
            first = next(a for a in answers if isinstance(a, BaseException))
            raise first
        return got

    async def _recover_round(
        self, blob_id: bytes, metadata: BlobMetadata, where: dict[Target, int]
    ) -> list[Rebuilt]:
        """Rebuild the target slivers (-> their shards) from one request to each peer for
        all of them (plus the symbols this node cuts from its own slivers), stopping as
        soon as every target has enough verified symbols; store them; return them."""
        ctx = self._ctx
        params = metadata.params
        targets = list(where)
        need = {t: params.symbols_to_recover(t[0]) for t in targets}
        symbols: dict[Target, dict[int, recovery.RecoverySymbol]] = {t: {} for t in targets}

        def add(received: Iterable[recovery.RecoverySymbol]) -> None:
            for symbol in received:
                key = (symbol.source_type.orthogonal, symbol.target_index)
                if key in symbols:
                    symbols[key].setdefault(symbol.source_index, symbol)

        def short() -> list[Target]:
            return [t for t in targets if len(symbols[t]) < need[t]]

        started = time.monotonic()
        add(await self._local_symbols(blob_id, metadata, targets))
        local_seconds = time.monotonic() - started
        claims: list[Member] = []  # peers that say the blob is invalid
        answered = 0
        if short():
            peers = self._peers()
            ctx.metrics.recovery_requests.labels(kind="batch").inc(len(peers))
            pending = {asyncio.create_task(self._ask(m, blob_id, targets)): m for m in peers}
            try:
                while short() and pending:
                    done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                    for task in done:
                        member = pending.pop(task)
                        try:
                            received = task.result()
                        except (PeerError, TimeoutError) as e:
                            if getattr(e, "blob_state", "") == "invalid":
                                claims.append(member)
                            log.debug("symbols_unavailable", peer=member.name, error=str(e))
                            continue
                        answered += 1
                        add(await self._verified(metadata, received, member.name))
            finally:
                for task in pending:
                    task.cancel()
        asked_seconds = time.monotonic() - started
        rebuilt = await self._rebuild(blob_id, metadata, where, symbols, need)
        log.info(
            "recovery_round",
            blob_id=str(BlobId(blob_id)),
            targets=len(targets),
            answered=answered,
            local_seconds=round(local_seconds, 3),
            symbols_seconds=round(asked_seconds, 3),
            seconds=round(time.monotonic() - started, 3),
        )
        missing = short()
        if missing and rebuilt:
            # a primary sliver short of symbols: the secondary slivers just rebuilt here
            # may give it what the peers did not
            add(await self._local_symbols(blob_id, metadata, missing))
            rebuilt += await self._rebuild(
                blob_id, metadata, {t: where[t] for t in missing}, symbols, need
            )
            missing = short()
        if missing:
            await self._check_claims(blob_id, claims)
            sliver_type, index = missing[0]
            raise _NotYet(
                f"{len(symbols[missing[0]])} of {need[missing[0]]} symbols for {sliver_type} "
                f"sliver {index} ({len(missing)} sliver(s) short)"
            )
        return rebuilt

    async def _verified(
        self, metadata: BlobMetadata, received: Sequence[recovery.RecoverySymbol], peer: str
    ) -> list[recovery.RecoverySymbol]:
        """The received symbols that the metadata commits to (all checked in one hop); the
        others are counted and logged."""
        ctx = self._ctx
        reasons = await ctx.compute(recovery.symbol_errors, metadata, received)
        bad = [(s, r) for s, r in zip(received, reasons, strict=True) if r is not None]
        if bad:
            symbol, reason = bad[0]
            log.warning(
                "invalid_symbol",
                peer=peer,
                count=len(bad),
                error=str(
                    codec_errors.InvalidSymbolError(
                        str(symbol.source_type), symbol.source_index, symbol.target_index, reason
                    )
                ),
            )
            ctx.metrics.rejected_inputs.labels(reason="invalid_symbol").inc(len(bad))
        return [s for s, r in zip(received, reasons, strict=True) if r is None]

    async def _rebuild(
        self,
        blob_id: bytes,
        metadata: BlobMetadata,
        where: dict[Target, int],
        symbols: dict[Target, dict[int, recovery.RecoverySymbol]],
        need: dict[Target, int],
    ) -> list[Rebuilt]:
        """Rebuild and store the targets that have enough symbols (secondary slivers first,
        in their own transaction, so that primary ones may be cut from them)."""
        ctx = self._ctx
        out: list[Rebuilt] = []
        for target_type in (SliverType.SECONDARY, SliverType.PRIMARY):
            ready = [t for t in where if t[0] is target_type and len(symbols[t]) >= need[t]]
            if not ready:
                continue
            rebuilt = []
            for target in ready:
                data = await self._recover(blob_id, metadata, target, symbols.pop(target))
                rebuilt.append((where[target], target_type, blob_id, data))
                out.append((where[target], target_type, len(data)))
            await ctx.write(ctx.store.put_slivers, rebuilt)
            ctx.metrics.slivers_recovered.labels(sliver_type=str(target_type)).inc(len(rebuilt))
            log.info(
                "slivers_recovered",
                blob_id=str(BlobId(blob_id)),
                sliver_type=str(target_type),
                count=len(rebuilt),
            )
            for target in ready:
                symbols[target] = {}  # rebuilt: no longer short
                need[target] = 0
        return out

    async def _recover(
        self,
        blob_id: bytes,
        metadata: BlobMetadata,
        target: Target,
        symbols: dict[int, recovery.RecoverySymbol],
    ) -> bytes:
        target_type, index = target
        try:
            return await self._ctx.compute(
                recovery.recover_sliver,
                metadata,
                target_type,
                index,
                list(symbols.values()),
                verified=True,
            )
        except codec_errors.InconsistentEncodingError:
            proof = InconsistencyProof(target_type, index, tuple(symbols.values()))
            await self._invalid.record(blob_id, metadata, proof, "recovery")
            raise _Invalid from None
