"""Blobs, subsets, recovery symbols and tampered encodings shared by the codec tests.

Encodings are cached per ``(n, length, seed)``: many property-test examples reuse one
encoding, which keeps the suite fast at large ``n``.
"""

from __future__ import annotations

import dataclasses
import functools
import random
from collections.abc import Callable, Iterable, Sequence

from hypothesis import strategies as st

from walrus_node.codec import encoder, recovery, slivers
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import EncodingParams, EncodingType, SliverType

SLIVER_TYPES = (SliverType.PRIMARY, SliverType.SECONDARY)

SUBSET_KINDS = ("systematic", "parity", "mixed", "random")
"""Kinds of minimal subsets of slivers (or recovery-symbol sources) to decode from:

* ``systematic`` - only slivers that carry source data;
* ``parity`` - as many parity slivers as exist, topped up with systematic ones (the
  parity slivers alone reach the threshold only for primary slivers when ``2f >= n - 2f``);
* ``mixed`` - about half of each;
* ``random`` - a uniformly random subset.
"""


def blob(length: int, seed: int = 0) -> bytes:
    """Deterministic pseudo-random bytes (not zeros: every position matters)."""
    return random.Random(seed).randbytes(length)


@functools.cache
def encoded(n: int, length: int, seed: int = 0) -> encoder.EncodedBlob:
    return encoder.encode(blob(length, seed), n)


def sliver_bytes(enc: encoder.EncodedBlob, sliver_type: SliverType, index: int) -> bytes:
    return bytes(enc.sliver(sliver_type, index))


def slivers_of(
    enc: encoder.EncodedBlob, sliver_type: SliverType, indices: Iterable[int]
) -> dict[int, bytes]:
    return {i: sliver_bytes(enc, sliver_type, i) for i in indices}


def subset(
    kind: str, params: EncodingParams, sliver_type: SliverType, rng: random.Random
) -> list[int]:
    """Exactly the threshold number of distinct indices of ``sliver_type``, of a kind."""
    need = params.needed_to_decode(sliver_type)
    systematic = list(range(params.symbols_in(sliver_type.orthogonal)))
    parity = list(range(len(systematic), params.n_shards))
    if kind == "systematic":
        chosen = systematic[:need]
    elif kind == "parity":
        take = min(len(parity), need)
        chosen = rng.sample(parity, take) + rng.sample(systematic, need - take)
    elif kind == "mixed":
        take = min(len(parity), need // 2)
        chosen = rng.sample(parity, take) + rng.sample(systematic, need - take)
    elif kind == "random":
        chosen = rng.sample(range(params.n_shards), need)
    else:
        raise ValueError(f"unknown subset kind {kind!r}")
    assert len(set(chosen)) == need
    return chosen


def symbols_for(
    enc: encoder.EncodedBlob,
    target_type: SliverType,
    target_index: int,
    sources: Iterable[int],
    sliver: Callable[[SliverType, int], bytes] | None = None,
) -> list[recovery.RecoverySymbol]:
    """Recovery symbols for one target sliver, one from each source sliver (the honest
    encoding's slivers, or those ``sliver`` returns)."""
    source_type = target_type.orthogonal
    read = sliver or (lambda sliver_type, i: sliver_bytes(enc, sliver_type, i))
    return [
        symbol
        for i in sources
        for symbol in recovery.make_symbols(
            enc.params,
            source_type,
            i,
            read(source_type, i),
            enc.symbol_size,
            [target_index],
        )
    ]


def flip_bit(data: bytes, bit: int) -> bytes:
    """``data`` with bit ``bit`` (counted from the first byte's least significant) flipped."""
    out = bytearray(data)
    out[bit // 8] ^= 1 << (bit % 8)
    return bytes(out)


def with_length(metadata: BlobMetadata, length: int) -> BlobMetadata:
    return dataclasses.replace(metadata, unencoded_length=length)


@dataclasses.dataclass(frozen=True)
class Tampered:
    """An honest encoding with one parity sliver replaced, and metadata committing to it.

    Every sliver and symbol verifies against ``metadata``, but the tampered sliver is not
    the code's parity of the others: the writer encoded the blob inconsistently.
    """

    enc: encoder.EncodedBlob
    metadata: BlobMetadata
    sliver_type: SliverType
    index: int
    data: bytes
    changed_symbol: int
    """Which of the tampered sliver's own symbols was changed."""

    def sliver(self, sliver_type: SliverType, index: int) -> bytes:
        if (sliver_type, index) == (self.sliver_type, self.index):
            return self.data
        return sliver_bytes(self.enc, sliver_type, index)

    def slivers(self, sliver_type: SliverType, indices: Iterable[int]) -> dict[int, bytes]:
        return {i: self.sliver(sliver_type, i) for i in indices}

    def symbols_for(
        self, target_type: SliverType, target_index: int, sources: Sequence[int]
    ) -> list[recovery.RecoverySymbol]:
        return symbols_for(self.enc, target_type, target_index, sources, self.sliver)


def tamper(enc: encoder.EncodedBlob, sliver_type: SliverType, index: int, symbol: int) -> Tampered:
    """Change one symbol of parity sliver ``index`` and commit to the result."""
    params, s = enc.params, enc.symbol_size
    assert index >= params.symbols_in(sliver_type.orthogonal), "tamper with a parity sliver"
    data = bytearray(enc.sliver(sliver_type, index))
    data[symbol * s] ^= 0xFF
    root = slivers.sliver_root(params, sliver_type, bytes(data), s)
    pair = params.pair_of(sliver_type, index)
    hashes = list(enc.metadata.pair_hashes)
    primary, secondary = hashes[pair]
    hashes[pair] = (root, secondary) if sliver_type is SliverType.PRIMARY else (primary, root)
    metadata = BlobMetadata(
        EncodingType.RS2_GF65536_BLAKE3, enc.metadata.unencoded_length, tuple(hashes)
    )
    return Tampered(enc, metadata, sliver_type, index, bytes(data), symbol)


# --- Hypothesis strategies -----------------------------------------------------------------

shards = st.integers(4, 40)
"""Shard counts for the fast tests; the ``slow`` tests cover up to 256."""

lengths = st.one_of(st.sampled_from([0, 1, 2, 31, 32, 33]), st.integers(0, 20_000))
"""Blob lengths, always including the edges (empty, one byte, around a symbol)."""


def sliver_types() -> st.SearchStrategy[SliverType]:
    return st.sampled_from(SLIVER_TYPES)
