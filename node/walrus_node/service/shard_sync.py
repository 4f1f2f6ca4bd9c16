"""Shard sync: receiving the shards this node gained at an epoch change.

Who calls it: :mod:`.node` calls :meth:`ShardSync.plan` whenever a committee is applied,
and serves the sending side (:meth:`ShardSync.records_for`) to peers.

For every shard this node owns in epoch ``e`` but did not own in ``e - 1``:

1. **Cooperative path.** Ask the shard's previous owner for its slivers with ``SyncShard``:
   batches in blob-ID order, primary slivers first, then secondary, each with the blob's
   metadata and certificate. Every sliver is verified against the metadata and every
   metadata against its blob ID; every certificate must verify against a committee this
   node knows (:meth:`Registrations.verify_certificate`, as for certificates from clients
   and catch-up) and is recorded by the same rule (:mod:`.ownership`). A sliver whose
   certificate this node cannot check (a future epoch, or one it never followed) is kept
   only if the blob is already certified here; otherwise it is skipped, never stored on
   the sender's word. Each batch is stored together with the cursor in one transaction,
   so a restart resumes after the last stored batch. An empty batch that promises more
   (``finished=false``) is retried with back-off; a source that keeps sending them is
   given up on (the recovery path follows), and no source is asked for longer than
   ``shard_sync_give_up_seconds`` without progress. A source that cannot be reached is
   given up on for every shard it held at once: those not started go straight to
   recovery. Requests are signed and bound to the network, the source node and a nonce
   (:mod:`.replay`).
2. **Recovery path.** If the previous owner is gone, keeps failing, or sends bad data, the
   shard's slivers are rebuilt blob by blob from the rest of the committee with recovery
   symbols, for every certified blob this node knows of (after a full certificate
   catch-up from all peers). A blob is rebuilt once for every shard being recovered (or
   whose source is gone), not once per shard: :meth:`BlobSync.recover` asks each peer
   once for all the lacking slivers, and a second pass over the same blob waits for the
   first and finds them stored. Recovery passes have slots of their own
   (``shard_sync_concurrency`` of them), so shards rebuilt from the committee do not
   hold up transfers from live previous owners. A blob whose recovery proves it
   inconsistently encoded (or for which a peer shows a proof that checks) is recorded
   invalid (:mod:`.invalid_blobs`) and passed over: its ID is listed in the sync
   status's ``skipped_blob_ids`` and the shard still finishes.

Progress is reported through ``Admin/GetSyncStatus`` and node info; the operator (or
testbed) records a node as done once every gained shard is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import structlog

from walrus_node.codec import errors as codec_errors
from walrus_node.codec import metadata as metadata_mod
from walrus_node.codec import slivers
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import SliverType
from walrus_node.committee.member import Member
from walrus_node.protocol import errors, keys, messages
from walrus_node.protocol.errors import PeerError
from walrus_node.protocol.messages import Certificate
from walrus_node.protocol.views import ShardBatch, ShardSyncView
from walrus_node.service import basics, verified_memo
from walrus_node.service.blob_sync import BlobSync
from walrus_node.service.context import NodeContext
from walrus_node.service.registrations import Registrations
from walrus_node.service.replay import ReplayGuard
from walrus_node.store.store import BlobInfo, BlobState, ShardRecord

__all__ = ["ShardProgress", "ShardSync"]

log = structlog.get_logger("walrus.shard_sync")

_T = TypeVar("_T")

BATCH_BYTES = 64 << 20
"""The sender stops a response after this many bytes of slivers."""
_MAX_FAILURES = 5
"""Failed cooperative attempts (errors from the source) before recovering instead."""
_MAX_UNREACHABLE = 3
"""Attempts in a row that cannot reach the source at all (it is gone) before recovering."""
_RETRY = 1.0
_MAX_BACKOFF = 30.0
"""Longest wait between two shard-sync requests to a source that sends empty batches."""
_MAX_EMPTY_BATCHES = 8
"""Empty batches with ``finished=false`` in a row before the source is given up on."""


@dataclasses.dataclass
class ShardProgress:
    shard: int
    source: str
    """Previous owner's name ("" if none: recover)."""
    state: str = "syncing"
    """"syncing" (cooperative), "recovering", or "done"."""
    sliver_type: str = SliverType.PRIMARY.value
    cursor: str = ""
    """Hex blob ID of the last sliver stored in the current sliver-type pass."""
    slivers: int = 0
    bytes: int = 0
    recovered: int = 0
    """Slivers rebuilt from recovery symbols (the recovery path, or gaps the source left)."""
    recovered_bytes: int = 0
    error: str = ""
    started_at: float = 0.0
    recovery_started_at: float = 0.0
    """When the final catch-up-and-recover pass began (after the cooperative transfer)."""
    finished_at: float = 0.0

    def to_dict(self) -> dict[str, object]:
        # Every field is a str, int or float: a shallow read, not ``dataclasses.asdict``'s
        # deep copy (the whole epoch's progress is saved after every batch of every shard).
        return {name: getattr(self, name) for name in _PROGRESS_FIELDS}

    def view(self) -> ShardSyncView:
        return ShardSyncView(
            shard=self.shard,
            state=self.state,
            source=self.source,
            slivers=self.slivers,
            bytes=self.bytes,
            error=self.error,
            recovered=self.recovered,
            recovered_bytes=self.recovered_bytes,
            started_at=self.started_at,
            recovery_started_at=self.recovery_started_at,
            finished_at=self.finished_at,
        )


_PROGRESS_FIELDS = tuple(f.name for f in dataclasses.fields(ShardProgress))

Accept = Callable[[Certificate], Awaitable[object]]


class ShardSync:
    def __init__(
        self,
        ctx: NodeContext,
        blob_sync: BlobSync,
        certificates_caught_up: Callable[[], Awaitable[None]],
        on_shard_done: Callable[[], Awaitable[None]],
        registrations: Registrations,
        guard: ReplayGuard,
    ) -> None:
        self._ctx = ctx
        self._registrations = registrations
        self._guard = guard
        self._blob_sync = blob_sync
        self._caught_up = certificates_caught_up
        self._on_shard_done = on_shard_done
        self.epoch = 0
        self.progress: dict[int, ShardProgress] = {}
        self.skipped: set[bytes] = set()
        """Certified blobs found invalid (inconsistently encoded) while syncing this epoch:
        passed over on purpose, reported in the sync status."""
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._semaphore = asyncio.Semaphore(ctx.config.shard_sync_concurrency)
        """Slots of the cooperative transfers."""
        self._recovery_slots = asyncio.Semaphore(ctx.config.shard_sync_concurrency)
        """Slots of the recovery passes (each rebuilds every shard being recovered)."""
        self._memo = verified_memo.VerifiedMemo(ctx.config.shard_sync_memo_blobs)
        """Metadata and certificates that verified in this epoch's sync (bounded)."""
        self._gone: set[str] = set()
        """Previous owners found unreachable in this epoch: every shard they held is
        recovered, without asking them again."""

    # --- planning ----------------------------------------------------------------------------

    @property
    def done(self) -> bool:
        return all(p.state == "done" for p in self.progress.values())

    def _state_key(self, epoch: int) -> str:
        return f"shard-sync/{epoch}"

    async def plan(self) -> None:
        """(Re)start syncing the shards gained in the current epoch, resuming saved progress."""
        ctx = self._ctx
        c = ctx.require_committees()
        if c.epoch == self.epoch:
            return
        await self.stop()
        ctx.shards_in_transfer = set()
        self.epoch = c.epoch
        self.skipped = set()
        self._gone = set()
        self._memo = verified_memo.VerifiedMemo(ctx.config.shard_sync_memo_blobs)
        me = ctx.keypair.public_key
        mine = set(ctx.my_shards())
        previous = c.state.previous
        if previous is None:  # the first committee: nothing existed before
            self.progress = {}
            return
        before = previous.by_key(me)
        gained = sorted(mine - set(before.shards if before is not None else ()))
        saved = await ctx.read(ctx.store.get_state, self._state_key(c.epoch))
        restored = (
            {}
            if saved is None
            else {int(k): ShardProgress(**v) for k, v in json.loads(saved).items()}
        )
        self.progress = {
            shard: restored.get(shard) or ShardProgress(shard, previous.owner(shard).name)
            for shard in gained
        }
        await self._save()
        ctx.shards_in_transfer = {s for s, p in self.progress.items() if p.state != "done"}
        ctx.metrics.shards_syncing.set(len(ctx.shards_in_transfer))
        if gained:
            log.info("shard_sync_planned", epoch=c.epoch, shards=gained)
        for shard, p in self.progress.items():
            if p.state != "done":
                self._tasks[shard] = asyncio.create_task(self._run(p), name=f"shard-{shard}")

    async def stop(self) -> None:
        tasks, self._tasks = self._tasks, {}
        for task in tasks.values():
            task.cancel()
        for task in tasks.values():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _save(self, extra: list[ShardRecord] | None = None, shard: int = 0) -> None:
        ctx = self._ctx
        value = json.dumps({str(s): p.to_dict() for s, p in self.progress.items()}).encode()
        key = self._state_key(self.epoch)
        if extra:
            merge = self._registrations.merge
            await ctx.write(ctx.store.ingest_shard_batch, shard, extra, merge, key, value)
        else:
            await ctx.write(ctx.store.put_state, key, value)

    # --- one shard ---------------------------------------------------------------------------

    async def _run(self, p: ShardProgress) -> None:
        ctx = self._ctx
        if p.state == "syncing":
            async with self._semaphore:
                p.started_at = p.started_at or time.time()
                if p.state == "syncing":  # not moved to recovery while waiting
                    await self._cooperative(p)
                    p.state, p.recovery_started_at = "recovering", time.time()
        # Recovery has slots of its own: shards being rebuilt (slowly, from the whole
        # committee) do not hold up the transfers of others from live previous owners.
        async with self._recovery_slots:
            p.started_at = p.started_at or time.time()
            p.recovery_started_at = p.recovery_started_at or time.time()
            # Either way, end with every certified blob known (after a full certificate
            # catch-up) present: this fills what the source did not have or left out.
            await self._recover(p)
            p.state, p.error, p.finished_at = "done", "", time.time()
            await self._save()
            ctx.shards_in_transfer.discard(p.shard)
            ctx.metrics.shards_syncing.set(len(ctx.shards_in_transfer))
            log.info("shard_synced", shard=p.shard, slivers=p.slivers, recovered=p.recovered)
            ctx.metrics.shards_synced.inc()
        await self._on_shard_done()

    def _source(self, p: ShardProgress) -> Member | None:
        """The shard's previous owner to ask, or None (none, this node, or gone)."""
        ctx = self._ctx
        previous = ctx.require_committees().state.previous
        source = None if previous is None else previous.owner(p.shard)
        if source is None or source.public_key == ctx.keypair.public_key:
            return None
        if source.name in self._gone:
            log.info("shard_sync_recovering", shard=p.shard, source=source.name, gone=True)
            return None
        return source

    async def _cooperative(self, p: ShardProgress) -> None:
        ctx = self._ctx
        source = self._source(p)
        if source is None:
            return
        give_up = ctx.config.shard_sync_give_up_seconds
        failures = unreachable = empty = 0
        progress_at = time.monotonic()  # the last batch that stored something
        while True:
            stalled = time.monotonic() - progress_at >= give_up
            try:
                batch = await self._fetch(source, p)
            except PeerError as e:
                code = getattr(e, "code", "")
                p.error = str(e)
                if code == "ABORTED" and not stalled:  # the source is not at this epoch yet
                    await asyncio.sleep(_RETRY * random.uniform(0.5, 1.5))
                    continue
                failures += 1
                unreachable = unreachable + 1 if code in ("UNAVAILABLE", "DEADLINE_EXCEEDED") else 0
                log.info("shard_sync_retry", shard=p.shard, source=source.name, error=str(e))
                if unreachable >= _MAX_UNREACHABLE:
                    self._source_gone(source.name)
                    break
                if failures >= _MAX_FAILURES or stalled:
                    break
                await asyncio.sleep(_RETRY * 2 ** (failures - 1) * random.uniform(0.4, 0.6))
                continue
            except errors.DataLoss as e:  # the source sent bytes that do not verify
                p.error = str(e)
                log.warning(
                    "shard_sync_bad_source", shard=p.shard, source=source.name, error=str(e)
                )
                break
            failures = unreachable = 0
            if not batch.records and not batch.finished:
                # Nothing sent, yet more promised: back off instead of asking again at once,
                # and give up on a source that keeps doing it.
                empty += 1
                p.error = f"{source.name} sent {empty} empty batches in a row"
                if empty >= _MAX_EMPTY_BATCHES or stalled:
                    log.warning("shard_sync_empty_batches", shard=p.shard, source=source.name)
                    break
                await asyncio.sleep(min(_MAX_BACKOFF, _RETRY * 2 ** (empty - 1)))
                continue
            empty, progress_at = 0, time.monotonic()
            if batch.finished:
                if p.sliver_type == SliverType.PRIMARY.value:
                    p.sliver_type, p.cursor = SliverType.SECONDARY.value, ""
                    await self._save()
                    continue
                return
        log.info("shard_sync_recovering", shard=p.shard, source=source.name)

    def _source_gone(self, name: str) -> None:
        """Give up on a previous owner for all its shards: those not started yet go
        straight to recovery (and are rebuilt in the same passes as this one)."""
        if name in self._gone:
            return
        self._gone.add(name)
        moved = [
            q.shard
            for q in self.progress.values()
            if q.source == name and q.state == "syncing" and not q.started_at
        ]
        now = time.time()
        for shard in moved:  # rebuilt from now on, in the passes of the shards recovering
            q = self.progress[shard]
            q.state, q.started_at, q.recovery_started_at = "recovering", now, now
        log.warning("shard_sync_source_gone", source=name, shards=len(moved))

    async def _fetch(self, source: Member, p: ShardProgress) -> ShardBatch:
        """One batch from the previous owner, verified and stored with the cursor."""
        ctx = self._ctx
        sliver_type = SliverType(p.sliver_type)
        after = bytes.fromhex(p.cursor)
        binding = messages.Binding(
            ctx.require_committees().network_id,
            source.public_key,
            basics.now_ms(),
            os.urandom(messages.NONCE_SIZE),
        )
        batch = await ctx.peers.peer(source.endpoint, source.name).sync_shard(
            ctx.keypair,
            binding,
            self.epoch,
            p.shard,
            sliver_type,
            after,
            ctx.config.shard_sync_batch_slivers,
        )
        params = ctx.params()
        records: list[ShardRecord] = []
        skipped = 0
        checks: list[tuple[metadata_mod.BlobMetadata, int, memoryview]] = []
        for r in batch.records:
            if len(r.blob_id) != 32:  # a blob ID's size
                raise errors.DataLoss(f"a record's blob ID has {len(r.blob_id)} bytes")
            if r.blob_id <= after:
                raise errors.DataLoss("slivers out of blob-ID order")
            expected = params.sliver_in_pair(sliver_type, params.pair_on_shard(r.blob_id, p.shard))
            if (
                r.sliver_type is not sliver_type
                or r.index != expected
                or r.certificate.blob_id != r.blob_id
            ):
                raise errors.DataLoss(f"record for blob {BlobId(r.blob_id)} is not for this shard")
            checks.append((self._metadata(r.blob_id, r.metadata, params.n), r.index, r.data.data))
            after = r.blob_id
        try:  # every sliver of the batch against its blob's verified metadata, in one hop
            await ctx.compute(_verify_slivers, sliver_type, checks)
        except codec_errors.VerificationError as e:
            raise errors.DataLoss(str(e)) from e
        for r in batch.records:
            if self._certificate_checks(r.certificate):
                certificate: Certificate | None = r.certificate
            elif await self._known_certified(r.blob_id):
                certificate = None  # known through a checked route: keep the sliver only
            else:
                skipped += 1
                continue
            records.append(ShardRecord(r.blob_id, r.metadata, certificate, sliver_type, r.data))
        if skipped:
            ctx.metrics.rejected_inputs.labels(reason="unverifiable_certificate").inc(skipped)
            log.warning(
                "shard_sync_unverifiable",
                shard=p.shard,
                source=source.name,
                skipped=skipped,
            )
        p.cursor = after.hex()
        p.slivers += len(records)
        p.bytes += sum(len(r.data) for r in records)
        ctx.metrics.shard_sync_slivers.inc(len(records))
        ctx.metrics.shard_sync_bytes.inc(sum(len(r.data) for r in records))
        await self._save(records, p.shard)
        return batch

    def _metadata(self, blob_id: bytes, data: bytes, n_shards: int) -> metadata_mod.BlobMetadata:
        """The blob's metadata, verified against its ID (once per epoch for the same bytes:
        :mod:`.verified_memo`); ``DataLoss`` if it does not verify."""
        known = self._memo.metadata(blob_id, data)
        if known is not None:
            return known
        try:
            metadata = metadata_mod.verify_metadata(BlobId(blob_id), data, n_shards)
        except codec_errors.VerificationError as e:
            raise errors.DataLoss(str(e)) from e
        self._memo.add_metadata(blob_id, data, metadata)
        return metadata

    def _certificate_checks(self, certificate: Certificate) -> bool:
        """True if the certificate verifies against a committee this node knows; False if
        this node cannot tell (an epoch it never followed, or a later one). A certificate
        that verifiably lies makes the whole batch bad (``DataLoss``). An equal certificate
        that verified earlier in this epoch is not checked again (:mod:`.verified_memo`)."""
        if self._memo.certificate_verified(certificate):
            return True
        try:
            self._registrations.verify_certificate(certificate)
        except errors.StaleEpoch:
            return False
        except (errors.InvalidRequest, errors.PermissionDenied) as e:
            raise errors.DataLoss(f"certificate: {e}") from e
        self._memo.add_certificate(certificate)
        return True

    async def _known_certified(self, blob_id: bytes) -> bool:
        info = await self._ctx.read(self._ctx.store.get_blob_info, blob_id)
        return info is not None and info.state is BlobState.CERTIFIED

    def _recovering(self, p: ShardProgress) -> list[int]:
        """The shards to rebuild together with ``p``'s: every gained shard not done that
        is being recovered or whose previous owner is gone. Each blob is then recovered
        once for all of them (one request per peer), not once per shard."""
        return sorted(
            {p.shard}
            | {
                q.shard
                for q in self.progress.values()
                if q.state == "recovering" or (q.state != "done" and q.source in self._gone)
            }
        )

    async def _recover(self, p: ShardProgress) -> None:
        """Rebuild the shard's slivers of every certified blob from the committee."""
        ctx = self._ctx
        started = time.monotonic()
        await self._caught_up()
        log.info(
            "shard_recovery_caught_up", shard=p.shard, seconds=round(time.monotonic() - started, 3)
        )
        while True:
            infos = await ctx.read(lambda: list(ctx.store.blob_infos()))
            certified = []
            for blob_id, info in infos:
                if info.state is BlobState.INVALID:
                    self.skipped.add(blob_id)
                if info.state is BlobState.CERTIFIED:
                    certified.append(blob_id)
            # blob -> its slivers lacking here, in one read rather than one per sliver
            missing = await ctx.read(ctx.store.lacking_slivers, p.shard, certified)
            if not missing:
                return
            shards = self._recovering(p)
            results = await _bounded(
                [self._blob_sync.recover(b, shards) for b in missing],
                ctx.config.max_concurrent_blob_syncs,
            )
            failed = [r for r in results if isinstance(r, BaseException)]
            for result in results:
                if isinstance(result, BaseException):
                    continue
                for shard, _, size in result:  # credited to the shard each sliver is of
                    q = self.progress.get(shard)
                    if q is not None:
                        q.recovered += 1
                        q.recovered_bytes += size
            await self._save()
            if failed:
                p.error = str(failed[0])
                log.info("shard_recovery_retry", shard=p.shard, failed=len(failed))
                await asyncio.sleep(_RETRY * 2)

    # --- sending side ----------------------------------------------------------------------

    async def records_for(
        self,
        requester: bytes,
        binding: messages.Binding,
        epoch: int,
        shard: int,
        sliver_type: SliverType,
        after: bytes,
        limit: int,
        signature: bytes,
    ) -> tuple[list[tuple[bytes, bytes, Certificate, int, bytes]], bool]:
        """Slivers of a shard this node owned in the previous epoch, for its new owner."""
        ctx = self._ctx
        c = ctx.require_committees()
        try:
            message = messages.shard_sync_message(binding, epoch, shard, sliver_type, after, limit)
        except ValueError as e:
            raise errors.InvalidRequest(f"shard sync request: {e}") from e
        if not keys.verify(requester, signature, message):
            raise errors.PermissionDenied("shard sync request signature does not verify")
        self._guard.check(binding, c.network_id, ctx.keypair.public_key, "shard sync request")
        if epoch > c.epoch:
            raise errors.StaleEpoch(f"this node is at epoch {c.epoch}, not yet {epoch}")
        if epoch < c.epoch:
            raise errors.FailedPrecondition(f"epoch {epoch} is over; this node is at {c.epoch}")
        if not 0 <= shard < c.n_shards:
            raise errors.InvalidRequest(f"shard {shard} out of range 0..{c.n_shards - 1}")
        owner = c.current.owner(shard)
        if owner.public_key != requester:
            raise errors.PermissionDenied(
                f"the requester does not own shard {shard} in epoch {epoch}"
            )
        previous = c.state.previous
        if previous is None or previous.owner(shard).public_key != ctx.keypair.public_key:
            raise errors.FailedPrecondition(
                f"this node did not own shard {shard} in epoch {epoch - 1}"
            )
        if after and len(after) != 32:
            raise errors.InvalidRequest("after_blob_id: expected 32 bytes or empty")
        limit = max(1, min(limit or 64, 1024))
        scanned, finished = await ctx.read(
            ctx.store.scan_shard, shard, sliver_type, after, limit, BATCH_BYTES
        )
        params = ctx.params()
        out = []
        store = ctx.store

        def lookup(blob_id: bytes) -> tuple[BlobInfo | None, Certificate | None, bytes | None]:
            # one thread hop per blob rather than three
            return (
                store.get_blob_info(blob_id),
                store.certificate_of(blob_id),
                store.get_metadata(blob_id),
            )

        for blob_id, data in scanned:
            info, certificate, metadata = await ctx.read(lookup, blob_id)
            if (
                info is None
                or info.state is not BlobState.CERTIFIED
                or certificate is None
                or metadata is None
            ):
                continue  # not certified: the new owner learns of it through its certificate
            index = params.sliver_in_pair(sliver_type, params.pair_on_shard(blob_id, shard))
            out.append((blob_id, metadata, certificate, index, data))
        ctx.metrics.shard_sync_served.inc(len(out))
        return out, finished


def _verify_slivers(
    sliver_type: SliverType, checks: Sequence[tuple[metadata_mod.BlobMetadata, int, memoryview]]
) -> None:
    """Verify each sliver against its blob's metadata (raises on the first that fails)."""
    for metadata, index, data in checks:
        slivers.verify_sliver(metadata, sliver_type, index, data)


async def _bounded(coros: Sequence[Awaitable[_T]], limit: int) -> list[_T | BaseException]:
    semaphore = asyncio.Semaphore(limit)

    async def one(coro: Awaitable[_T]) -> _T:
        async with semaphore:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros), return_exceptions=True))
