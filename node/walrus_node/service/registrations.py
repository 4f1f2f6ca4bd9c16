"""Registrations and certificates: signing storage confirmations, accepting certificates.

Who calls it: the servicer (``GetConfirmation``, ``SubmitCertificate``,
``ListCertificates``) through :class:`walrus_node.service.node.NodeService`, and
certificate catch-up (:mod:`.certificate_sync`), which hands every certificate a peer
lists to :meth:`Registrations.accept_certificate`. A confirmation is signed only once this
node holds all its slivers of the blob; a certificate is recorded only if it carries valid
signatures of members holding ``n - f`` shards of a committee this node knows.
"""

from __future__ import annotations

import structlog

from walrus_node.codec.metadata import BlobId, BlobMetadata
from walrus_node.protocol import errors, messages
from walrus_node.protocol.messages import BlobRegistration, Certificate, Confirmation
from walrus_node.service import basics
from walrus_node.service.blob_sync import BlobSync
from walrus_node.service.blobs import BlobData
from walrus_node.service.context import NodeContext
from walrus_node.store.store import BlobInfo, BlobState

__all__ = ["FINAL_STATES", "Registrations"]

log = structlog.get_logger("walrus.node")

FINAL_STATES = (BlobState.DELETED, BlobState.EXPIRED, BlobState.INVALID)
"""States a blob never leaves."""


class Registrations:
    def __init__(self, ctx: NodeContext, blobs: BlobData, blob_sync: BlobSync) -> None:
        self.ctx = ctx
        self._blobs = blobs
        self._blob_sync = blob_sync

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

    async def confirm(self, blob_id: bytes, registration: BlobRegistration) -> Confirmation:
        """Sign a storage confirmation, once this node holds all its slivers of the blob."""
        ctx = self.ctx
        metadata = await self._blobs.require_metadata(blob_id)
        self.check_registration(registration, metadata)
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

    async def accept_certificate(
        self, certificate: Certificate, source: str = "peer"
    ) -> tuple[bool, bool]:
        """Verify and record a certificate; start recovery if slivers are missing.

        Returns (newly certified or extended, recovering).
        """
        ctx = self.ctx
        bid = basics.parse_blob_id(certificate.blob_id)
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
            if info is not None and info.state in FINAL_STATES:
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
            created = info.created_ms if info is not None else basics.now_ms()
            return BlobInfo(BlobState.CERTIFIED, created, certificate.registration, certified_epoch)

        newly = await ctx.write(ctx.store.record_certificate, certificate, merge)
        if newly:
            ctx.uncertified.settle(certificate.blob_id)
            ctx.metrics.certificates_accepted.labels(source=source).inc()
            log.info(
                "certificate_accepted", blob_id=str(bid), epoch=certificate.epoch, source=source
            )
        else:
            info = await ctx.read(ctx.store.get_blob_info, certificate.blob_id)
            if info is not None and info.state in FINAL_STATES:
                return False, False
        shards = list(ctx.my_shards())
        held = await ctx.read(ctx.store.count_slivers, certificate.blob_id, shards)
        recovering = held < 2 * len(shards)
        if recovering:
            self._blob_sync.enqueue(certificate.blob_id)
        return newly, recovering

    async def certificates_after(self, sequence: int, limit: int) -> list[tuple[int, Certificate]]:
        limit = max(1, min(limit or 256, 1024))
        return await self.ctx.read(self.ctx.store.certificates_after, sequence, limit)
