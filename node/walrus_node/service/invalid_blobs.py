"""Invalid blobs: certified blobs proven inconsistently encoded, and the proofs.

Who calls it: :mod:`.blob_sync`, when recovering a sliver of a certified blob rebuilds
one that does not match its commitment (it holds the proof: the verified symbols used),
or when peers answer that a blob is invalid (it asks one for its proof and checks it);
:mod:`.blobs` serves the proof in ``GetBlobStatus(with_proof)``.

Marking a blob invalid needs a proof that checks (:mod:`walrus_node.codec.inconsistency`)
against metadata verified against the blob ID: a Byzantine peer's word is never enough.
The blob's slivers are dropped, its metadata and the proof kept (under
``state/invalid-proof/<blob id hex>``) so that other nodes can check it; reads answer
"invalid blob"; blob sync and shard sync stop trying to recover it (shard sync lists it
among the skipped blob IDs of its status).
"""

from __future__ import annotations

import dataclasses

import structlog

from walrus_node.codec import errors as codec_errors
from walrus_node.codec import inconsistency
from walrus_node.codec import metadata as metadata_mod
from walrus_node.codec.inconsistency import InconsistencyProof
from walrus_node.codec.metadata import BlobId, BlobMetadata
from walrus_node.protocol.views import BlobStatus, BlobStatusState
from walrus_node.service import basics
from walrus_node.service.context import NodeContext
from walrus_node.store.store import BlobInfo, BlobState

__all__ = ["InvalidBlobs"]

log = structlog.get_logger("walrus.node")


def _key(blob_id: bytes) -> str:
    return f"invalid-proof/{blob_id.hex()}"


class InvalidBlobs:
    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx

    async def record(
        self, blob_id: bytes, metadata: BlobMetadata, proof: InconsistencyProof, source: str
    ) -> bool:
        """Check ``proof`` and mark the blob invalid; True if it was not already.

        Raises :class:`codec_errors.InvalidProofError` if the proof proves nothing.
        """
        ctx = self.ctx
        await ctx.compute(inconsistency.verify, metadata, proof)
        await ctx.write(ctx.store.put_state, _key(blob_id), proof.to_bytes())

        def invalid(info: BlobInfo | None) -> BlobInfo | None:
            if info is None:
                return BlobInfo(BlobState.INVALID, basics.now_ms())
            if info.state is BlobState.INVALID:
                return None
            return dataclasses.replace(info, state=BlobState.INVALID)

        n = ctx.require_committees().n_shards
        updated = await ctx.write(ctx.store.update_blob, blob_id, invalid, n)
        if updated is None:
            return False
        ctx.forget_metadata(blob_id)
        ctx.metrics.rejected_inputs.labels(reason="inconsistent_blob").inc()
        log.warning(
            "blob_invalid",
            blob_id=str(BlobId(blob_id)),
            source=source,
            sliver_type=str(proof.target_type),
            sliver=proof.target_index,
        )
        return True

    async def proof_of(self, blob_id: bytes) -> bytes | None:
        return await self.ctx.read(self.ctx.store.get_state, _key(blob_id))

    async def check_claim(self, blob_id: bytes, status: BlobStatus, source: str) -> bool:
        """A peer says the blob is invalid and sent its proof: check both the metadata
        (against the blob ID) and the proof; record the blob invalid if they hold."""
        if status.state is not BlobStatusState.INVALID or not status.inconsistency_proof:
            return False
        n = self.ctx.require_committees().n_shards
        try:
            metadata = metadata_mod.verify_metadata(BlobId(blob_id), status.metadata, n)
            proof = InconsistencyProof.from_bytes(status.inconsistency_proof)
            await self.record(blob_id, metadata, proof, source)
        except codec_errors.VerificationError as e:
            self.ctx.metrics.rejected_inputs.labels(reason="invalid_proof").inc()
            log.warning("invalid_blob_claim_refused", source=source, error=str(e))
            return False
        return True
