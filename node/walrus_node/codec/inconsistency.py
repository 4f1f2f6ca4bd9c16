"""Inconsistency proofs: evidence, anyone can check, that a blob was encoded inconsistently.

Who calls it: storage nodes (one that fails to recover a sliver of a certified blob
because the recovered sliver does not match its commitment makes a proof; one that is
shown a proof by a peer checks it before marking the blob invalid) and the property tests.
Pure: bytes and metadata in, a proof or an error out.

As in Walrus, the proof is the recovery symbols that rebuilt one sliver, each with its
Merkle proof under the metadata's commitment to the sliver it was cut from: since every
symbol is committed to by the (verified) metadata, and the sliver they decode to does not
hash to the metadata's commitment for it, the writer's slivers cannot all be consistent
with one blob. Checking a proof is exactly :func:`recovery.recover_sliver` failing with
:class:`errors.InconsistentEncodingError` on verified symbols.

Wire form (integers little-endian)::

    u8 target_type (1 primary, 2 secondary) | u16 target_index | u16 count
    count x ( u16 source_index | u32 size | data[size] | u8 depth | depth x node[32] )
"""

from __future__ import annotations

import dataclasses
import struct

from walrus_node.codec import errors, merkle, recovery
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import MAX_SHARDS, SliverType

__all__ = ["MAX_PROOF_BYTES", "InconsistencyProof", "verify"]

MAX_PROOF_BYTES = 64 << 20
"""Largest proof accepted: a sliver's worth of symbols plus their Merkle paths."""

_TYPES = {SliverType.PRIMARY: 1, SliverType.SECONDARY: 2}
_TYPES_BACK = {v: k for k, v in _TYPES.items()}


@dataclasses.dataclass(frozen=True)
class InconsistencyProof:
    target_type: SliverType
    """Type of the sliver the symbols rebuild (they are cut from the other type)."""
    target_index: int
    symbols: tuple[recovery.RecoverySymbol, ...]

    def to_bytes(self) -> bytes:
        parts = [
            struct.pack("<BHH", _TYPES[self.target_type], self.target_index, len(self.symbols))
        ]
        for s in self.symbols:
            parts.append(struct.pack("<HI", s.source_index, len(s.data)))
            parts.append(s.data)
            parts.append(struct.pack("<B", len(s.proof)))
            parts.extend(s.proof)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> InconsistencyProof:
        """Parse a proof; raises :class:`errors.InvalidProofError` for anything malformed."""
        if len(data) > MAX_PROOF_BYTES:
            raise errors.InvalidProofError(f"{len(data)} bytes, more than {MAX_PROOF_BYTES}")
        reader = _Reader(data)
        wire_type, target, count = reader.unpack("<BHH")
        target_type = _TYPES_BACK.get(wire_type)
        if target_type is None:
            raise errors.InvalidProofError(f"target type {wire_type} is not 1 or 2")
        if count > MAX_SHARDS:
            raise errors.InvalidProofError(f"{count} symbols, more than {MAX_SHARDS}")
        symbols = []
        for _ in range(count):
            source, size = reader.unpack("<HI")
            payload = reader.take(size)
            (depth,) = reader.unpack("<B")
            path = tuple(reader.take(merkle.DIGEST_SIZE) for _ in range(depth))
            symbols.append(
                recovery.RecoverySymbol(target_type.orthogonal, source, target, payload, path)
            )
        if reader.remaining:
            raise errors.InvalidProofError(f"{reader.remaining} bytes after the last symbol")
        return cls(target_type, target, tuple(symbols))


def verify(metadata: BlobMetadata, proof: InconsistencyProof) -> None:
    """Return if ``proof`` shows the blob of ``metadata`` (verified against its ID) is
    inconsistently encoded; else raise :class:`errors.InvalidProofError` saying why."""
    if not 0 <= proof.target_index < metadata.n_shards:
        raise errors.InvalidProofError(
            f"target index {proof.target_index} out of range 0..{metadata.n_shards - 1}"
        )
    try:
        recovery.recover_sliver(metadata, proof.target_type, proof.target_index, proof.symbols)
    except errors.InconsistentEncodingError:
        return
    except errors.CodecError as e:
        raise errors.InvalidProofError(str(e)) from e
    raise errors.InvalidProofError(
        f"the symbols rebuild {proof.target_type} sliver {proof.target_index} as committed"
    )


class _Reader:
    def __init__(self, data: bytes) -> None:
        self._data = memoryview(data)
        self._offset = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._offset

    def take(self, n: int) -> bytes:
        if n > self.remaining:
            raise errors.InvalidProofError(f"truncated: {n} bytes wanted, {self.remaining} left")
        out = bytes(self._data[self._offset : self._offset + n])
        self._offset += n
        return out

    def unpack(self, fmt: str) -> tuple[int, ...]:
        size = struct.calcsize(fmt)
        values: tuple[int, ...] = struct.unpack(fmt, self.take(size))
        return values
