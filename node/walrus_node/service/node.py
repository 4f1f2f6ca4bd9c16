"""The storage node's behaviour, independent of the transport.

Who calls it: :mod:`walrus_node.transport.servicer` (one method per RPC) and tests.
Every method validates its input completely before touching the store, raises only
:mod:`.errors` (third-party errors are wrapped here), and stores nothing unverified:
metadata must hash to its blob ID, slivers must match the metadata, certificates must
carry valid signatures of members holding ``n - f`` shards.

Background work started by :meth:`NodeService.start`: watching the committee file,
blob sync (:mod:`.blob_sync`), certificate catch-up (:mod:`.certificate_sync`) and the
removal of data of blobs that were never certified.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib.metadata
import os
import time
from collections.abc import Sequence

import structlog

from walrus_node.codec import errors as codec_errors
from walrus_node.codec import metadata as metadata_mod
from walrus_node.codec import recovery, slivers
from walrus_node.codec.metadata import BlobId, BlobMetadata
from walrus_node.codec.params import SliverType
from walrus_node.protocol import committee_file, keys, messages
from walrus_node.protocol.messages import BlobRegistration, Certificate, Confirmation
from walrus_node.service import errors
from walrus_node.service.blob_sync import BlobSync, local_recovery_symbols
from walrus_node.service.certificate_sync import CertificateSync
from walrus_node.service.context import NodeContext
from walrus_node.service.shard_sync import ShardSync
from walrus_node.service.views import (
    BlobStatus,
    BlobStatusState,
    NodeInfo,
    NodeStatus,
    SyncStatus,
)
from walrus_node.store.store import BlobInfo, BlobState, CorruptSliverError

__all__ = ["NodeService", "version"]

log = structlog.get_logger("walrus.node")

ADMIN_CLOCK_SKEW_MS = 5 * 60 * 1000
_PUSHED_COMMITTEE = "committee"
_FINAL_STATES = (BlobState.DELETED, BlobState.EXPIRED, BlobState.INVALID)
_GC_INTERVAL = 60.0


def version() -> str:
    try:
        return importlib.metadata.version("walrus-k8s")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _blob_id(raw: bytes) -> BlobId:
    try:
        return BlobId(raw)
    except ValueError as e:
        raise errors.InvalidRequest(f"blob_id: {e}") from e


def _now_ms() -> int:
    return int(time.time() * 1000)


def _freshness(c: committee_file.ActiveCommittees) -> tuple[int, int, int]:
    """Orders versions of the committee file: a later epoch, then more members done
    syncing, then a chosen next committee, are newer."""
    return (c.epoch, len(c.state.sync_done), int(c.state.next is not None))


class NodeService:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.blob_sync = BlobSync(ctx)
        self.certificate_sync = CertificateSync(ctx, self.accept_certificate)
        self.shard_sync = ShardSync(
            ctx, self.blob_sync, self.certificate_sync.catch_up, self.blob_sync.resume
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._started = time.monotonic()
        self._committee_stamp: tuple[float, int, int] | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._load_pushed_committee()
        self.reload_committee()
        if self.ctx.committees is not None:
            await self._committee_changed()
        self._tasks = [
            asyncio.create_task(self.blob_sync.run(), name="blob-sync"),
            asyncio.create_task(self.certificate_sync.run(), name="certificate-sync"),
            asyncio.create_task(self._watch_committee(), name="committee-watch"),
            asyncio.create_task(self._collect_garbage(), name="gc"),
        ]
        self._update_gauges()

    async def stop(self) -> None:
        await self.shard_sync.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.ctx.peers.close()
        await asyncio.to_thread(self.ctx.shutdown)
        self.ctx.store.close()

    # --- committee ---------------------------------------------------------------------------

    def _load_pushed_committee(self) -> None:
        """At start-up: the last committee pushed through Admin/SetCommittee, if any."""
        raw = self.ctx.store.get_state(_PUSHED_COMMITTEE)
        if raw is not None:
            self.apply_committee(committee_file.parse(raw))

    def reload_committee(self) -> bool:
        """Re-read the committee file if it changed; True if a newer committee was applied.

        The file (a ConfigMap in Kubernetes, read-only and updated with a delay) and the
        committees pushed through ``Admin/SetCommittee`` (kept in the store) are two routes
        for the same information; whichever is newer wins (:func:`_freshness`).
        """
        path = self.ctx.config.committee_file
        try:
            st = os.stat(path)
        except FileNotFoundError:
            return False
        stamp = (st.st_mtime, st.st_size, st.st_ino)
        if stamp == self._committee_stamp:
            return False
        self._committee_stamp = stamp
        try:
            parsed = committee_file.parse(path.read_bytes())
        except (OSError, committee_file.CommitteeFileError) as e:
            log.error("committee_file_invalid", path=str(path), error=str(e))
            return False
        return self.apply_committee(parsed)

    def apply_committee(self, committees: committee_file.ActiveCommittees) -> bool:
        """Adopt a committee unless the one in use is newer; True if adopted and different."""
        old = self.ctx.committees
        if old is not None and (
            _freshness(committees) < _freshness(old) or committees.to_dict() == old.to_dict()
        ):
            return False
        self.ctx.committees = committees
        if old is None or old.epoch != committees.epoch or old.current != committees.current:
            log.info(
                "committee_applied",
                epoch=committees.epoch,
                phase=committees.phase,
                shards=list(self.ctx.my_shards()),
            )
            self.certificate_sync.poke()
        self._update_gauges()
        return True

    async def _watch_committee(self) -> None:
        while True:
            await asyncio.sleep(self.ctx.config.committee_poll_seconds)
            if self.reload_committee():
                await self._committee_changed()

    async def _committee_changed(self) -> None:
        """Act on a newly applied committee: sync gained shards, expire blobs whose end
        epoch has come, drop shards handed over once the change is done, catch up."""
        await self.shard_sync.plan()
        await self.expire_blobs()
        await self._drop_lost_shards()
        await self.blob_sync.resume()
        self.certificate_sync.poke()
        self._update_gauges()

    async def _drop_lost_shards(self) -> None:
        """Delete shards handed over to another node, once that node holds them.

        A shard this node owned in the previous epoch stays (read-only, and the source of
        shard sync) until its new owner has reported done; older ones go at once.
        """
        ctx = self.ctx
        c = ctx.require_committees()
        me = ctx.keypair.public_key
        mine = set(ctx.my_shards())
        previous = c.state.previous
        held = await ctx.read(ctx.store.shards_with_data, c.n_shards)
        for shard in held:
            if shard in mine:
                continue
            handed_over_now = previous is not None and previous.owner(shard).public_key == me
            if handed_over_now and c.current.owner(shard).name not in c.state.sync_done:
                continue
            await ctx.write(ctx.store.drop_shard, shard)
            log.info("shard_dropped", shard=shard, epoch=c.epoch)

    def _status(self) -> NodeStatus:
        if self.ctx.committees is None or not self.ctx.my_shards():
            return NodeStatus.STANDBY
        if self.ctx.shards_in_transfer:
            return NodeStatus.SYNCING
        if self.blob_sync.backlog:
            return NodeStatus.RECOVERING
        return NodeStatus.ACTIVE

    def _update_gauges(self) -> None:
        m = self.ctx.metrics
        m.set_status(self._status().value, tuple(s.value for s in NodeStatus))
        if self.ctx.committees is not None:
            m.epoch.set(self.ctx.committees.epoch)
            m.shards_owned.set(len(self.ctx.my_shards()))

    def committee_json(self) -> bytes:
        return self.ctx.require_committees().to_json()

    # --- info --------------------------------------------------------------------------------

    async def node_info(self) -> NodeInfo:
        ctx = self.ctx
        c = ctx.committees
        shards = ctx.my_shards() if c is not None else ()
        blobs = await ctx.read(ctx.store.blob_count)
        logged = await ctx.read(ctx.store.certificate_count)
        self._update_gauges()
        ctx.metrics.blobs_stored.set(blobs)
        return NodeInfo(
            name=ctx.config.name,
            public_key=ctx.keypair.public_key,
            epoch=c.epoch if c is not None else 0,
            n_shards=c.n_shards if c is not None else 0,
            shards=shards,
            status=self._status(),
            shard_states=self._shard_states(),
            version=version(),
            uptime_seconds=int(time.monotonic() - self._started),
            blobs_stored=blobs,
            recovery_backlog=self.blob_sync.backlog,
            phase=c.phase if c is not None else "",
            certificates_logged=logged,
        )

    def _shard_states(self) -> tuple[tuple[int, str], ...]:
        ctx = self.ctx
        if ctx.committees is None:
            return ()
        states = dict.fromkeys(ctx.my_shards(), "active")
        for shard, progress in self.shard_sync.progress.items():
            if progress.state != "done":
                states[shard] = progress.state
        for shard in ctx.readable_shards() - set(states):
            states[shard] = "read-only"
        return tuple(sorted(states.items()))

    def sync_status(self) -> SyncStatus:
        ctx = self.ctx
        c = ctx.require_committees()
        progress = list(self.shard_sync.progress.values())
        return SyncStatus(
            epoch=c.epoch,
            shards_total=len(progress),
            shards_done=sum(p.state == "done" for p in progress),
            bytes_received=sum(p.bytes for p in progress),
            slivers_received=sum(p.slivers for p in progress),
            slivers_recovered=sum(p.recovered for p in progress),
            epoch_sync_done=self.shard_sync.epoch == c.epoch and self.shard_sync.done,
            shards=tuple(p.view() for p in progress),
        )

    # --- metadata ----------------------------------------------------------------------------

    async def store_metadata(self, blob_id: bytes, data: bytes) -> bool:
        ctx = self.ctx
        bid = _blob_id(blob_id)
        n = ctx.require_committees().n_shards
        try:
            await ctx.compute(metadata_mod.verify_metadata, bid, data, n)
        except codec_errors.InvalidMetadataError as e:
            ctx.metrics.rejected_inputs.labels(reason="invalid_metadata").inc()
            raise errors.InvalidRequest(str(e)) from e
        new = await ctx.write(
            ctx.store.put_metadata, blob_id, data, BlobInfo(BlobState.REGISTERED, _now_ms())
        )
        if new:
            ctx.metrics.metadata_stored.inc()
        return new

    async def get_metadata(self, blob_id: bytes) -> bytes:
        bid = _blob_id(blob_id)
        info = await self.ctx.read(self.ctx.store.get_blob_info, blob_id)
        self._check_not_gone(bid, info)
        data = await self.ctx.read(self.ctx.store.get_metadata, blob_id)
        if data is None:
            raise errors.NotFound(f"no metadata for blob {bid}")
        return data

    def _check_not_gone(self, bid: BlobId, info: BlobInfo | None) -> None:
        if info is not None and info.state in (BlobState.DELETED, BlobState.EXPIRED):
            raise errors.Gone(str(bid), info.state.value)

    async def _require_metadata(self, blob_id: bytes, *, reading: bool = False) -> BlobMetadata:
        """The blob's metadata; its absence is NOT_FOUND for reads and out of order for writes."""
        bid = _blob_id(blob_id)
        info = await self.ctx.read(self.ctx.store.get_blob_info, blob_id)
        self._check_not_gone(bid, info)
        metadata = await self.ctx.metadata(blob_id)
        if metadata is None:
            if reading:
                raise errors.NotFound(f"blob {bid} is not known to this node")
            raise errors.FailedPrecondition(f"metadata of blob {bid} must be stored first")
        return metadata

    # --- slivers -----------------------------------------------------------------------------

    async def check_sliver_header(
        self, blob_id: bytes, sliver_type: SliverType, index: int, size: int
    ) -> None:
        """Validate a sliver upload before its bytes arrive."""
        metadata = await self._require_metadata(blob_id)
        params = metadata.params
        if not 0 <= index < params.n_shards:
            raise errors.InvalidRequest(
                f"{sliver_type} sliver index {index} out of range 0..{params.n_shards - 1}"
            )
        expected = params.symbols_in(sliver_type) * metadata.symbol_size
        if size != expected:
            raise errors.InvalidRequest(
                f"{sliver_type} sliver {index} declares {size} bytes, expected {expected}"
            )
        shard = self.ctx.shard_of(blob_id, sliver_type, index)
        if shard not in self.ctx.my_shards():
            raise errors.FailedPrecondition(
                f"{sliver_type} sliver {index} of blob {BlobId(blob_id)} belongs to shard {shard}, "
                f"which this node does not own in epoch {self.ctx.require_committees().epoch}"
            )

    async def store_slivers(
        self, blob_id: bytes, items: Sequence[tuple[SliverType, int, bytes]]
    ) -> tuple[int, int, int]:
        """Verify and durably store slivers; return (newly stored, held, expected)."""
        ctx = self.ctx
        metadata = await self._require_metadata(blob_id)
        for sliver_type, index, data in items:
            await self.check_sliver_header(blob_id, sliver_type, index, len(data))

        async def verify(sliver_type: SliverType, index: int, data: bytes) -> None:
            try:
                await ctx.compute(slivers.verify_sliver, metadata, sliver_type, index, data)
            except codec_errors.InvalidSliverError as e:
                ctx.metrics.rejected_inputs.labels(reason="invalid_sliver").inc()
                raise errors.InvalidRequest(str(e)) from e

        await asyncio.gather(*(verify(t, i, d) for t, i, d in items))
        rows = [(ctx.shard_of(blob_id, t, i), t, blob_id, d) for t, i, d in items]
        new = await ctx.write(ctx.store.put_slivers, rows)
        for sliver_type, _, data in items:
            ctx.metrics.slivers_stored.labels(sliver_type=str(sliver_type)).inc()
            ctx.metrics.sliver_bytes_stored.labels(sliver_type=str(sliver_type)).inc(len(data))
        shards = list(ctx.my_shards())
        held = await ctx.read(ctx.store.count_slivers, blob_id, shards)
        return new, held, 2 * len(shards)

    async def get_sliver(self, blob_id: bytes, sliver_type: SliverType, index: int) -> bytes:
        ctx = self.ctx
        metadata = await self._require_metadata(blob_id, reading=True)
        if not 0 <= index < metadata.n_shards:
            raise errors.InvalidRequest(
                f"{sliver_type} sliver index {index} out of range 0..{metadata.n_shards - 1}"
            )
        shard = ctx.shard_of(blob_id, sliver_type, index)
        if shard not in ctx.readable_shards():
            raise errors.FailedPrecondition(
                f"{sliver_type} sliver {index} belongs to shard {shard}, not held by this node"
            )
        data = await self._read_sliver(shard, sliver_type, blob_id)
        if data is None:
            raise errors.NotFound(
                f"{sliver_type} sliver {index} of blob {BlobId(blob_id)} not stored"
            )
        ctx.metrics.slivers_served.labels(sliver_type=str(sliver_type)).inc()
        ctx.metrics.sliver_bytes_served.labels(sliver_type=str(sliver_type)).inc(len(data))
        return data

    async def _read_sliver(
        self, shard: int, sliver_type: SliverType, blob_id: bytes
    ) -> bytes | None:
        """Read a stored sliver; a sliver that rotted on disk is dropped and re-recovered."""
        ctx = self.ctx
        try:
            return await ctx.read(ctx.store.get_sliver, shard, sliver_type, blob_id)
        except CorruptSliverError as e:
            ctx.metrics.corrupt_slivers.inc()
            log.error(
                "corrupt_sliver",
                shard=shard,
                sliver_type=str(sliver_type),
                blob_id=str(BlobId(blob_id)),
            )
            await ctx.write(ctx.store.delete_sliver, shard, sliver_type, blob_id)
            self.blob_sync.enqueue(blob_id)
            raise errors.DataLoss(
                f"stored {sliver_type} sliver of shard {shard} is corrupt; it is being recovered"
            ) from e

    # --- status and confirmation ---------------------------------------------------------------

    async def blob_status(self, blob_id: bytes) -> BlobStatus:
        ctx = self.ctx
        _blob_id(blob_id)
        info = await ctx.read(ctx.store.get_blob_info, blob_id)
        if info is None:
            return BlobStatus(BlobStatusState.NONEXISTENT)
        shards = list(ctx.my_shards()) if ctx.committees is not None else []
        held = await ctx.read(ctx.store.count_slivers, blob_id, shards)
        has_metadata = await ctx.read(ctx.store.get_metadata, blob_id) is not None
        return BlobStatus(
            BlobStatusState(info.state.value),
            has_metadata,
            held,
            2 * len(shards),
            info.certified_epoch or 0,
            info.registration,
        )

    def _check_registration(self, registration: BlobRegistration, metadata: BlobMetadata) -> None:
        c = self.ctx.require_committees()
        problems = registration.problems()
        if registration.end_epoch <= c.epoch:
            problems.append(f"end_epoch: {registration.end_epoch} is not after epoch {c.epoch}")
        if registration.end_epoch > c.epoch + c.max_epochs_ahead:
            problems.append(
                f"end_epoch: {registration.end_epoch} is more than {c.max_epochs_ahead} "
                f"epochs after epoch {c.epoch}"
            )
        if registration.unencoded_length != metadata.unencoded_length:
            problems.append(
                f"unencoded_length: {registration.unencoded_length} differs from the "
                f"metadata's {metadata.unencoded_length}"
            )
        if problems:
            raise errors.InvalidRequest("; ".join(problems))

    async def confirm(self, blob_id: bytes, registration: BlobRegistration) -> Confirmation:
        """Sign a storage confirmation, once this node holds all its slivers of the blob."""
        ctx = self.ctx
        metadata = await self._require_metadata(blob_id)
        self._check_registration(registration, metadata)
        shards = list(ctx.my_shards())
        if not shards:
            raise errors.FailedPrecondition("this node owns no shards in the current epoch")
        held = await ctx.read(ctx.store.count_slivers, blob_id, shards)
        if held < 2 * len(shards):
            raise errors.FailedPrecondition(
                f"holds {held} of the {2 * len(shards)} slivers of blob {BlobId(blob_id)}"
            )
        epoch = ctx.require_committees().epoch
        message = messages.confirmation_message(epoch, blob_id, registration)
        signature = ctx.keypair.sign(message)
        ctx.metrics.confirmations_issued.inc()
        return Confirmation(epoch, blob_id, registration, ctx.keypair.public_key, signature)

    # --- recovery symbols ------------------------------------------------------------------------

    async def recovery_symbols(
        self, blob_id: bytes, target_type: SliverType, target_index: int
    ) -> list[recovery.RecoverySymbol]:
        """Symbols of every sliver this node holds that helps rebuild the target sliver."""
        ctx = self.ctx
        metadata = await self._require_metadata(blob_id, reading=True)
        if not 0 <= target_index < metadata.n_shards:
            raise errors.InvalidRequest(
                f"target index {target_index} out of range 0..{metadata.n_shards - 1}"
            )
        out = await local_recovery_symbols(
            ctx,
            blob_id,
            metadata,
            target_type,
            target_index,
            sorted(ctx.readable_shards()),
            self._read_sliver,
        )
        if not out:
            raise errors.NotFound(
                f"holds no {target_type.orthogonal} sliver of blob {BlobId(blob_id)}"
            )
        return out

    # --- certificates ----------------------------------------------------------------------------

    async def accept_certificate(
        self, certificate: Certificate, source: str = "peer"
    ) -> tuple[bool, bool]:
        """Verify and record a certificate; start recovery if slivers are missing.

        Returns (newly certified or extended, recovering).
        """
        ctx = self.ctx
        bid = _blob_id(certificate.blob_id)
        c = ctx.require_committees()
        committee = c.committee_for(certificate.epoch)
        if committee is None:
            raise errors.StaleEpoch(
                f"certificate is for epoch {certificate.epoch}; this node knows epochs "
                f"{c.epoch}" + ("" if c.previous is None else f" and {c.previous.epoch}")
            )
        problems = certificate.registration.problems()
        if problems:
            raise errors.InvalidRequest("; ".join(problems))
        try:
            messages.verify_certificate(certificate, committee)
        except messages.CertificateError as e:
            ctx.metrics.rejected_inputs.labels(reason="invalid_certificate").inc()
            raise errors.PermissionDenied(f"certificate for blob {bid}: {e}") from e

        def merge(info: BlobInfo | None) -> BlobInfo | None:
            if info is not None and info.state in _FINAL_STATES:
                return None
            if (
                info is not None
                and info.state is BlobState.CERTIFIED
                and info.registration is not None
                and certificate.registration.end_epoch <= info.registration.end_epoch
            ):
                return None  # nothing new: already certified at least this long
            certified_epoch = certificate.epoch
            if info is not None and info.certified_epoch is not None:
                certified_epoch = min(certified_epoch, info.certified_epoch)
            created = info.created_ms if info is not None else _now_ms()
            return BlobInfo(BlobState.CERTIFIED, created, certificate.registration, certified_epoch)

        newly = await ctx.write(ctx.store.record_certificate, certificate, merge)
        if newly:
            ctx.metrics.certificates_accepted.labels(source=source).inc()
            log.info(
                "certificate_accepted", blob_id=str(bid), epoch=certificate.epoch, source=source
            )
        else:
            info = await ctx.read(ctx.store.get_blob_info, certificate.blob_id)
            if info is not None and info.state in _FINAL_STATES:
                return False, False
        shards = list(ctx.my_shards())
        held = await ctx.read(ctx.store.count_slivers, certificate.blob_id, shards)
        recovering = held < 2 * len(shards)
        if recovering:
            self.blob_sync.enqueue(certificate.blob_id)
        return newly, recovering

    async def certificates_after(self, sequence: int, limit: int) -> list[tuple[int, Certificate]]:
        limit = max(1, min(limit or 256, 1024))
        return await self.ctx.read(self.ctx.store.certificates_after, sequence, limit)

    # --- admin -----------------------------------------------------------------------------------

    def verify_admin(
        self, method: str, timestamp_ms: int, payload: bytes, signer: bytes, signature: bytes
    ) -> None:
        allowed = set()
        for text in self.ctx.config.admin_public_keys:
            with contextlib.suppress(ValueError):
                allowed.add(keys.parse_public_key(text))
        if signer not in allowed:
            raise errors.PermissionDenied("signer is not an admin of this node")
        if abs(_now_ms() - timestamp_ms) > ADMIN_CLOCK_SKEW_MS:
            raise errors.PermissionDenied("admin request timestamp is more than 5 minutes off")
        if not keys.verify(
            signer, signature, messages.admin_message(method, timestamp_ms, payload)
        ):
            raise errors.PermissionDenied("admin request signature does not verify")

    async def set_committee(self, committee_json: bytes) -> committee_file.ActiveCommittees:
        """Install a committee pushed by the operator/testbed, persisting it to the file."""
        try:
            parsed = committee_file.parse(committee_json)
        except committee_file.CommitteeFileError as e:
            raise errors.InvalidRequest(f"committee: {e}") from e
        current = self.ctx.committees
        if current is not None and parsed.epoch < current.epoch:
            raise errors.StaleEpoch(
                f"committee for epoch {parsed.epoch} is older than the current {current.epoch}"
            )
        if current is not None and _freshness(parsed) < _freshness(current):
            return current  # a newer one arrived through the committee file already
        await self.ctx.write(self.ctx.store.put_state, _PUSHED_COMMITTEE, parsed.to_json())
        if self.apply_committee(parsed):
            await self._committee_changed()
        return parsed

    # --- lifetime ----------------------------------------------------------------------------

    async def expire_blobs(self) -> int:
        """Remove the data of blobs whose end epoch has come; reads then answer "expired"."""
        ctx = self.ctx
        c = ctx.require_committees()
        infos = await ctx.read(lambda: list(ctx.store.blob_infos()))
        expired = 0
        for blob_id, info in infos:
            reg = info.registration
            if info.state is BlobState.CERTIFIED and reg is not None and reg.end_epoch <= c.epoch:
                tombstone = dataclasses.replace(info, state=BlobState.EXPIRED)
                await ctx.write(ctx.store.drop_blob_data, blob_id, tombstone, c.n_shards)
                ctx.forget_metadata(blob_id)
                expired += 1
        if expired:
            ctx.metrics.blobs_expired.inc(expired)
            log.info("blobs_expired", count=expired, epoch=c.epoch)
        return expired

    async def delete_blob(self, blob_id: bytes, epoch: int, signature: bytes) -> bool:
        """Delete a deletable blob at its owner's request; True if it was not deleted yet."""
        ctx = self.ctx
        bid = _blob_id(blob_id)
        c = ctx.require_committees()
        info = await ctx.read(ctx.store.get_blob_info, blob_id)
        if info is None:
            raise errors.NotFound(f"blob {bid} is not known to this node")
        if info.state is BlobState.DELETED:
            return False
        if info.state is BlobState.EXPIRED:
            raise errors.Gone(str(bid), "expired")
        reg = info.registration
        if info.state is not BlobState.CERTIFIED or reg is None:
            raise errors.FailedPrecondition(f"blob {bid} is not certified")
        if not reg.deletable:
            raise errors.FailedPrecondition(f"blob {bid} is permanent; it cannot be deleted")
        if epoch not in (c.epoch, c.epoch - 1):
            raise errors.StaleEpoch(f"deletion signed for epoch {epoch}; the epoch is {c.epoch}")
        message = messages.deletion_message(epoch, blob_id)
        if not keys.verify(reg.owner_public_key, signature, message):
            raise errors.PermissionDenied(f"deletion of blob {bid} is not signed by its owner")
        tombstone = dataclasses.replace(info, state=BlobState.DELETED)
        await ctx.write(ctx.store.drop_blob_data, blob_id, tombstone, c.n_shards)
        ctx.forget_metadata(blob_id)
        ctx.metrics.blobs_deleted.inc()
        log.info("blob_deleted", blob_id=str(bid))
        return True

    # --- garbage ---------------------------------------------------------------------------------

    async def _collect_garbage(self) -> None:
        while True:
            await asyncio.sleep(_GC_INTERVAL)
            try:
                await self.collect_uncertified()
            except Exception:
                log.exception("gc_failed")

    async def collect_uncertified(self) -> int:
        """Delete data of blobs never certified within ``uncertified_ttl_seconds``."""
        ctx = self.ctx
        if ctx.committees is None:
            return 0
        cutoff = _now_ms() - int(ctx.config.uncertified_ttl_seconds * 1000)
        infos = await ctx.read(lambda: list(ctx.store.blob_infos()))
        removed = 0
        shards = sorted(ctx.readable_shards())
        for blob_id, info in infos:
            if info.state is BlobState.REGISTERED and info.created_ms < cutoff:
                await ctx.write(ctx.store.remove_blob, blob_id, shards)
                ctx.forget_metadata(blob_id)
                removed += 1
        if removed:
            log.info("uncertified_blobs_removed", count=removed)
        return removed
