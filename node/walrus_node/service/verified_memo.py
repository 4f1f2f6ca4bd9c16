"""A bounded memo of inputs that have already verified during one epoch's shard sync.

Who calls it: :mod:`.shard_sync` (receiving side). Every gained shard's batches carry the
same blobs' metadata and certificates again: at 1000 shards a joining node receives each
blob's 64 kB metadata and its certificate once per sliver, on every gained shard. Parsing
and hashing that metadata to its blob ID, and checking every signature of the certificate,
was the bulk of the per-sliver work. This memo keeps what verified, so the same bytes are
checked once per epoch rather than once per sliver.

It never weakens a check: a metadata hit requires the received bytes to be *identical* to
bytes that verified against the same blob ID (otherwise they are verified afresh), and a
certificate hit requires an equal certificate (every field and signature) that verified
before. Only successes are remembered (a certificate this node could not check yet may
check later). Memory is bounded by ``capacity`` entries per kind, least recently used
dropped first: at most ``capacity`` metadata of up to 64 kB each (1000 shards), plus their
parsed form.
"""

from __future__ import annotations

import collections

from walrus_node.codec.metadata import BlobMetadata
from walrus_node.protocol.messages import Certificate

__all__ = ["VerifiedMemo"]


class VerifiedMemo:
    """Metadata and certificates that verified, least recently used dropped first."""

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError(f"capacity {capacity} is negative")
        self.capacity = capacity
        self._metadata: collections.OrderedDict[bytes, tuple[bytes, BlobMetadata]] = (
            collections.OrderedDict()
        )
        self._certificates: collections.OrderedDict[Certificate, None] = collections.OrderedDict()
        self.hits = 0
        """Lookups answered from the memo (metadata and certificates)."""

    def metadata(self, blob_id: bytes, data: bytes) -> BlobMetadata | None:
        """The parsed metadata if exactly ``data`` verified for ``blob_id`` before."""
        entry = self._metadata.get(blob_id)
        if entry is None or entry[0] != data:
            return None
        self._metadata.move_to_end(blob_id)
        self.hits += 1
        return entry[1]

    def add_metadata(self, blob_id: bytes, data: bytes, metadata: BlobMetadata) -> None:
        """Remember that ``data`` verified for ``blob_id`` (parsed as ``metadata``)."""
        if self.capacity == 0:
            return
        self._metadata[blob_id] = (bytes(data), metadata)
        self._metadata.move_to_end(blob_id)
        while len(self._metadata) > self.capacity:
            self._metadata.popitem(last=False)

    def certificate_verified(self, certificate: Certificate) -> bool:
        """True if an equal certificate verified before."""
        if certificate not in self._certificates:
            return False
        self._certificates.move_to_end(certificate)
        self.hits += 1
        return True

    def add_certificate(self, certificate: Certificate) -> None:
        """Remember that ``certificate`` verified against its epoch's committee."""
        if self.capacity == 0:
            return
        self._certificates[certificate] = None
        self._certificates.move_to_end(certificate)
        while len(self._certificates) > self.capacity:
            self._certificates.popitem(last=False)

    def __len__(self) -> int:
        return len(self._metadata) + len(self._certificates)
