"""Encoding parameters derived from the shard count, and the index arithmetic around them.

Who calls it: everything that needs to know sizes and indices (encoder, decoder, node,
client, committee code). Pure arithmetic.

Layout (RedStuff, RS2 variant): with ``n`` shards and ``f = (n - 1) // 3``, a blob fills a
``rows x columns`` matrix of equal-size symbols, ``rows = n - 2f`` and ``columns = n - f``,
row-major and zero padded. Extending every row to ``n`` symbols and every column to ``n``
symbols gives the ``n x n`` *expanded matrix*. Row ``i`` restricted to its first
``columns`` symbols is **primary sliver** ``i``; column ``j`` restricted to its first
``rows`` symbols is **secondary sliver** ``j``. Sliver pair ``p`` holds primary ``p`` and
secondary ``n - 1 - p`` and is stored on shard ``(p + blob_id mod n) mod n``.
"""

from __future__ import annotations

import dataclasses
import enum

from walrus_node.codec import errors

__all__ = [
    "MAX_SHARDS",
    "MAX_SYMBOL_SIZE",
    "MIN_SHARDS",
    "EncodingParams",
    "EncodingType",
    "SliverType",
]

MIN_SHARDS = 4
MAX_SHARDS = 1000
"""Walrus's own shard count. What bounds it: the expanded matrix has ``n^2`` symbols
(one encode at ``n = 1000`` hashes a million leaves and holds at least 2 MB of symbols), the
metadata is ``64 n`` bytes, and a node's store keeps two tables per shard. The code itself
(``reed-solomon-simd``) would take ``n`` up to about 32 000, and the wire formats' 16-bit
indices up to 65 535."""
MAX_SYMBOL_SIZE = 1 << 26
"""64 MiB per symbol. Bounds the memory a single blob can demand of a node or client
(a primary sliver is at most ``columns`` symbols); the resulting per-``n`` blob limit is
:meth:`EncodingParams.max_blob_size`."""


class EncodingType(enum.IntEnum):
    """Identifies code, field and hash; part of every blob ID."""

    RS2_GF65536_BLAKE3 = 3
    """Reed-Solomon over GF(2^16) (``reed-solomon-simd``, as Walrus) in both dimensions,
    BLAKE3-256 commitments. (Type 2, Cauchy RS over GF(2^8) through ISA-L, was this
    project's code for up to 256 shards; its blobs are no longer read.)"""


class SliverType(enum.Enum):
    PRIMARY = "primary"
    SECONDARY = "secondary"

    @property
    def orthogonal(self) -> SliverType:
        return SliverType.SECONDARY if self is SliverType.PRIMARY else SliverType.PRIMARY

    def __str__(self) -> str:
        return self.value


@dataclasses.dataclass(frozen=True)
class EncodingParams:
    """Everything that follows from the number of shards ``n``."""

    n_shards: int

    def __post_init__(self) -> None:
        if not MIN_SHARDS <= self.n_shards <= MAX_SHARDS:
            raise errors.ParameterError(
                f"shard count must be between {MIN_SHARDS} and {MAX_SHARDS}, got {self.n_shards}"
            )

    @property
    def n(self) -> int:
        return self.n_shards

    @property
    def f(self) -> int:
        """Shards that may be faulty: ``(n - 1) // 3``."""
        return (self.n_shards - 1) // 3

    @property
    def rows(self) -> int:
        """Source rows ``n - 2f``: symbols per secondary sliver, primary slivers to decode."""
        return self.n_shards - 2 * self.f

    @property
    def columns(self) -> int:
        """Source columns ``n - f``: symbols per primary sliver, secondary slivers to decode."""
        return self.n_shards - self.f

    @property
    def quorum(self) -> int:
        """Shards whose confirmations make a certificate: ``n - f``."""
        return self.n_shards - self.f

    @property
    def validity(self) -> int:
        """Shards that include at least one honest one: ``f + 1``."""
        return self.f + 1

    @property
    def source_symbols(self) -> int:
        return self.rows * self.columns

    def symbols_in(self, sliver_type: SliverType) -> int:
        """Symbols in a sliver of this type."""
        return self.columns if sliver_type is SliverType.PRIMARY else self.rows

    def needed_to_decode(self, sliver_type: SliverType) -> int:
        """Distinct slivers of this type that rebuild a blob."""
        return self.rows if sliver_type is SliverType.PRIMARY else self.columns

    def symbols_to_recover(self, sliver_type: SliverType) -> int:
        """Distinct recovery symbols that rebuild one sliver of this type."""
        return self.symbols_in(sliver_type)

    def max_blob_size(self) -> int:
        return self.source_symbols * MAX_SYMBOL_SIZE

    def symbol_size(self, blob_length: int) -> int:
        """Bytes per symbol for a blob: the smallest even size that fits it (at least 2).

        Even because the code works on 16-bit field elements."""
        if blob_length < 0:
            raise errors.ParameterError(f"blob length must be >= 0, got {blob_length}")
        if blob_length > self.max_blob_size():
            raise errors.ParameterError(
                f"blob of {blob_length} bytes exceeds the maximum of {self.max_blob_size()} "
                f"bytes for {self.n_shards} shards"
            )
        size = max(2, -(-blob_length // self.source_symbols))
        return size + size % 2

    def sliver_size(self, sliver_type: SliverType, blob_length: int) -> int:
        return self.symbols_in(sliver_type) * self.symbol_size(blob_length)

    def encoded_size(self, blob_length: int) -> int:
        """Bytes stored across all shards: every sliver pair plus a metadata copy per shard."""
        s = self.symbol_size(blob_length)
        return self.n_shards * ((self.rows + self.columns) * s + self.metadata_size())

    def metadata_size(self) -> int:
        return 11 + 64 * self.n_shards

    # --- indices -------------------------------------------------------------------------

    def check_index(self, index: int, what: str = "index") -> None:
        if not 0 <= index < self.n_shards:
            raise errors.ParameterError(f"{what} {index} out of range 0..{self.n_shards - 1}")

    def pair_of(self, sliver_type: SliverType, sliver_index: int) -> int:
        """The sliver pair holding a sliver."""
        if sliver_type is SliverType.PRIMARY:
            return sliver_index
        return self.n_shards - 1 - sliver_index

    def sliver_in_pair(self, sliver_type: SliverType, pair_index: int) -> int:
        """Index of the sliver of a type held by a pair (the mapping is an involution)."""
        return self.pair_of(sliver_type, pair_index)

    @staticmethod
    def rotation(blob_id: bytes, n_shards: int) -> int:
        return int.from_bytes(blob_id, "big") % n_shards

    def shard_of_pair(self, blob_id: bytes, pair_index: int) -> int:
        return (pair_index + self.rotation(blob_id, self.n_shards)) % self.n_shards

    def pair_on_shard(self, blob_id: bytes, shard: int) -> int:
        return (shard - self.rotation(blob_id, self.n_shards)) % self.n_shards
