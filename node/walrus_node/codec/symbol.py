"""The recovery symbol: one piece of a sliver, with its Merkle proof, sent to rebuild another.

A plain value with no arithmetic, so that the transport (and the operator's gRPC client,
which carries no NumPy) can name it without importing the codec's computing modules;
:mod:`.recovery` makes and checks symbols.
"""

from __future__ import annotations

import dataclasses

from walrus_node.codec.params import SliverType

__all__ = ["RecoverySymbol"]


@dataclasses.dataclass(frozen=True)
class RecoverySymbol:
    source_type: SliverType
    """Type of the sliver the symbol was cut from; the rebuilt sliver has the other type."""
    source_index: int
    target_index: int
    """Index of the sliver being rebuilt, and of this symbol's leaf in the source's tree."""
    data: bytes
    proof: tuple[bytes, ...]
