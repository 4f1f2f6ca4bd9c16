"""Registrations and certificates: signing storage confirmations, accepting certificates.

Who calls it: the servicer (``GetConfirmation``, ``StoreBlob``, ``SubmitCertificate``,
``ListCertificates``, ``ListCertificatePage``) through
:class:`walrus_node.service.node.NodeService`, certificate catch-up
(:mod:`.certificate_sync`), which hands every certificate a peer lists to
:meth:`Registrations.accept_certificate`, and shard sync (:mod:`.shard_sync`), which checks
every certificate a previous owner sends with :meth:`Registrations.verify_certificate`
and records it with :func:`walrus_node.service.ownership.certify`: one check and one
rule for all three routes.

A confirmation is signed only once this node holds all its slivers of the blob, for a
well-formed registration that ends within ``max_epochs_ahead`` epochs, of a blob that is
not invalid, and that its owner has not deleted. A certificate is recorded only if it
carries valid signatures of members holding ``n - f`` shards of the committee of its
epoch, which this node must know (the current or previous committee, or one in the
archive, :mod:`.archive`): a certificate from a later epoch, or from one this node never
followed, is refused. What recording does to the blob's registrations is
:mod:`.ownership`: several owners, none replacing another.
"""

from __future__ import annotations

import structlog

from walrus_node.codec.metadata import BlobId, BlobMetadata
from walrus_node.protocol import errors, messages
from walrus_node.protocol.messages import BlobRegistration, Certificate, Confirmation
from walrus_node.service import basics, ownership
from walrus_node.service.archive import CommitteeArchive
from walrus_node.service.blob_sync import BlobSync
from walrus_node.service.blobs import BlobData
from walrus_node.service.context import NodeContext
from walrus_node.store.store import BlobInfo, BlobState

__all__ = ["FINAL_STATES", "Registrations"]

log = structlog.get_logger("walrus.node")

FINAL_STATES = (BlobState.DELETED, BlobState.EXPIRED, BlobState.INVALID)
"""States in which a blob holds no data."""


class Registrations:
    def __init__(
        self, ctx: NodeContext, blobs: BlobData, blob_sync: BlobSync, archive: CommitteeArchive
    ) -> None:
        self.ctx = ctx
        self._blobs = blobs
        self._blob_sync = blob_sync
        self._archive = archive

    def check_registration(self, registration: BlobRegistration, metadata: BlobMetadata) -> None:
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

    async def check_confirmable(
        self,
        blob_id: bytes,
        registration: BlobRegistration,
        metadata: BlobMetadata | None = None,
    ) -> None:
        """Everything :meth:`confirm` checks except that the slivers are held: the blob is
        not invalid, the registration is well formed, fits the metadata and the epochs,
        and was not deleted by its owner. ``StoreBlob`` calls it before reading slivers,
        with the verified metadata it carries (not stored yet: a blob whose lifetime
        ended is then registered afresh, as StoreMetadata does)."""
        ctx = self.ctx
        bid = basics.parse_blob_id(blob_id)
        info = ctx.lookup(ctx.store.get_blob_info, blob_id)
        if info is not None and info.state is BlobState.INVALID:
            raise errors.InvalidBlob(str(bid))
        epoch = ctx.require_committees().epoch
        if info is not None and ownership.deleted_by_owner(info, registration, epoch):
            raise errors.FailedPrecondition(
                f"this registration of blob {bid} was deleted by its owner (an owner that "
                "deleted registers the blob again from the epoch after the deletion's)"
            )
        metadata = metadata or await self._blobs.metadata_of(blob_id, info)
        self.check_registration(registration, metadata)

    async def confirm(
        self,
        blob_id: bytes,
        registration: BlobRegistration,
        *,
        held: int | None = None,
    ) -> Confirmation:
        """Sign a storage confirmation, once this node holds all its slivers of the blob.

        An upload stream that has just stored the blob passes the count of slivers
        ``held`` it read after its last write, instead of counting them again; the
        blob's state is checked again here either way (a deletion or a proof of
        invalidity may have arrived during the upload)."""
        ctx = self.ctx
        await self.check_confirmable(blob_id, registration)
        shards = list(ctx.my_shards())
        if not shards:
            raise errors.FailedPrecondition("this node owns no shards in the current epoch")
        if held is None:
            held = ctx.lookup(ctx.store.count_slivers, blob_id, shards)
        if held < 2 * len(shards):
            raise errors.FailedPrecondition(
                f"holds {held} of the {2 * len(shards)} slivers of blob {BlobId(blob_id)}"
            )
        epoch = ctx.require_committees().epoch
        message = messages.confirmation_message(epoch, blob_id, registration)
        signature = ctx.keypair.sign(message)
        ctx.metrics.confirmations_issued.inc()
        return Confirmation(epoch, blob_id, registration, ctx.keypair.public_key, signature)

    def committee_of(self, epoch: int) -> messages.SignerWeights:
        """The committee of ``epoch``, if this node knows it; else ``StaleEpoch``."""
        c = self.ctx.require_committees()
        if epoch > c.epoch:
            raise errors.StaleEpoch(
                f"certificate is from epoch {epoch}, after this node's epoch {c.epoch}"
            )
        committee: messages.SignerWeights | None = c.committee_for(epoch)
        if committee is None:
            committee = self._archive.get(epoch)
        if committee is None:
            raise errors.StaleEpoch(
                f"certificate is from epoch {epoch}, whose committee this node does not know"
            )
        return committee

    def verify_certificate(
        self, certificate: Certificate, made_here: Confirmation | None = None
    ) -> None:
        """Check a certificate against the committee of its epoch (its signature equal
        to ``made_here``, a confirmation this node just signed, is not checked again).

        Raises ``StaleEpoch`` when this node cannot tell (an epoch it does not know),
        ``InvalidRequest`` for a malformed registration and ``PermissionDenied`` when the
        signatures do not prove it.
        """
        ctx = self.ctx
        bid = basics.parse_blob_id(certificate.blob_id)
        committee = self.committee_of(certificate.epoch)
        problems = certificate.registration.problems()
        if problems:
            raise errors.InvalidRequest("; ".join(problems))
        try:
            messages.verify_certificate(certificate, committee, made_here)
        except messages.CertificateError as e:
            ctx.metrics.rejected_inputs.labels(reason="invalid_certificate").inc()
            raise errors.PermissionDenied(f"certificate for blob {bid}: {e}") from e

    def merge(self, info: BlobInfo | None, certificate: Certificate) -> BlobInfo | None:
        """The blob's info once ``certificate`` (verified) is recorded; None: no change."""
        epoch = self.ctx.require_committees().epoch
        return ownership.certify(
            info, certificate.registration, certificate.epoch, epoch, basics.now_ms()
        )

    def unknown_past(self, certificate: Certificate) -> bool:
        """True if the certificate is from a past epoch whose committee this node does not
        know (so it cannot check the signatures itself)."""
        c = self.ctx.require_committees()
        return (
            certificate.epoch < c.epoch
            and c.committee_for(certificate.epoch) is None
            and self._archive.get(certificate.epoch) is None
        )

    async def accept_certificate(
        self,
        certificate: Certificate,
        source: str = "peer",
        made_here: Confirmation | None = None,
    ) -> tuple[bool, bool]:
        """Verify and record a certificate; start recovery if slivers are missing.
        ``made_here``: this node's own confirmation of the blob, signed on the same
        stream, whose signature need not be checked again.

        Returns (a registration was added or extended, recovering).
        """
        self.verify_certificate(certificate, made_here)
        return await self._record(certificate, source)

    async def adds_nothing(self, certificate: Certificate) -> bool:
        """True if recording ``certificate`` would change nothing here (the blob already
        carries its registration at least as long, or it ended, was deleted or the blob is
        invalid): it is then not worth checking its signatures. Certificate catch-up asks
        this first, since peers list every certificate the writing client already
        delivered here; a read, without the signatures' cost nor a write transaction."""
        info = self.ctx.lookup(self.ctx.store.get_blob_info, certificate.blob_id)
        return self.merge(info, certificate) is None

    async def accept_vouched(self, certificate: Certificate, weight: int) -> tuple[bool, bool]:
        """Record a certificate of a past epoch this node never knew, which members of the
        current committee holding ``weight`` (more than ``f``) shards accepted: at least
        one of them is honest and checked it (see :mod:`.certificate_sync`)."""
        c = self.ctx.require_committees()
        if weight <= (c.n_shards - 1) // 3 or not self.unknown_past(certificate):
            raise errors.PermissionDenied("certificate is not vouched for by more than f shards")
        problems = certificate.registration.problems()
        if problems:
            raise errors.InvalidRequest("; ".join(problems))
        return await self._record(certificate, "vouched")

    async def _record(self, certificate: Certificate, source: str) -> tuple[bool, bool]:
        ctx = self.ctx
        bid = basics.parse_blob_id(certificate.blob_id)

        def merge(info: BlobInfo | None) -> BlobInfo | None:
            return self.merge(info, certificate)

        newly = await ctx.write(ctx.store.record_certificate, certificate, merge)
        if newly:
            ctx.uncertified.settle(certificate.blob_id)
            ctx.metrics.certificates_accepted.labels(source=source).inc()
            log.info(
                "certificate_accepted",
                blob_id=str(bid),
                epoch=certificate.epoch,
                source=source,
                deletable=certificate.registration.deletable,
                end_epoch=certificate.registration.end_epoch,
            )
        info = ctx.lookup(ctx.store.get_blob_info, certificate.blob_id)
        if info is None or info.state is not BlobState.CERTIFIED:
            return False, False
        shards = list(ctx.my_shards())
        held = ctx.lookup(ctx.store.count_slivers, certificate.blob_id, shards)
        recovering = held < 2 * len(shards)
        if recovering:
            self._blob_sync.enqueue(certificate.blob_id)
        return newly, recovering

    async def certificates_after(self, sequence: int, limit: int) -> list[tuple[int, Certificate]]:
        limit = max(1, min(limit or 256, 1024))
        return await self.ctx.read(self.ctx.store.certificates_after, sequence, limit)
