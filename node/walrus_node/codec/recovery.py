"""Recovery symbols: rebuilding one lost sliver from small pieces of other nodes' slivers.

Who calls it: storage nodes, both to serve symbols and to recover slivers they lack.

Symbol ``E[i, j]`` of the expanded matrix lies in primary sliver ``i``'s row and in
secondary sliver ``j``'s column. A node holding primary sliver ``i`` expands it and hands
out ``E[i, j]`` to whoever rebuilds secondary sliver ``j``, with the Merkle proof of leaf
``j`` under primary sliver ``i``'s commitment; symmetrically for secondary slivers. Hence:

* a **secondary** sliver ``j`` is rebuilt from ``n - 2f`` symbols taken from primary slivers;
* a **primary** sliver ``i`` is rebuilt from ``n - f`` symbols taken from secondary slivers.

Either way the bytes moved equal the rebuilt sliver's size. The rebuilt sliver is
checked against the metadata; a mismatch with valid symbols proves the writer encoded
the blob inconsistently (:class:`errors.InconsistentEncodingError`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from walrus_node.codec import errors, merkle, slivers
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.codec.symbol import RecoverySymbol

__all__ = [
    "RecoverySymbol",
    "cut_symbols",
    "make_symbol",
    "make_symbols",
    "proof_length",
    "recover_sliver",
    "symbol_errors",
    "verify_symbol",
    "verify_symbols",
]

from walrus_node.codec._types import Buffer


def proof_length(n_shards: int) -> int:
    """Siblings in a proof over ``n`` leaves: ceil(log2 n)."""
    return (n_shards - 1).bit_length()


def make_symbols(
    params: EncodingParams,
    source_type: SliverType,
    source_index: int,
    sliver: Buffer,
    symbol_size: int,
    target_indices: Sequence[int],
) -> list[RecoverySymbol]:
    """Symbols of one (verified) sliver for rebuilding the given orthogonal slivers."""
    params.check_index(source_index, "source sliver index")
    for target in target_indices:
        params.check_index(target, "target sliver index")
    expected = params.symbols_in(source_type) * symbol_size
    if len(sliver) != expected:
        raise errors.ParameterError(
            f"{source_type} sliver {source_index} has {len(sliver)} bytes, expected {expected} "
            f"for symbols of {symbol_size} bytes"
        )
    expanded = slivers.expand(params, source_type, sliver, symbol_size)
    tree = merkle.Tree(merkle.leaf_hashes(expanded, symbol_size, params.n_shards))
    proofs = tree.proofs(list(target_indices))
    return [
        RecoverySymbol(source_type, source_index, target, expanded[target].tobytes(), tuple(proof))
        for target, proof in zip(target_indices, proofs, strict=True)
    ]


def make_symbol(
    params: EncodingParams,
    source_type: SliverType,
    source_index: int,
    sliver: Buffer,
    symbol_size: int,
    target_index: int,
    band_bytes: int,
) -> RecoverySymbol:
    """The same symbol as :func:`make_symbols` for one target, holding little besides it
    (:func:`cut_symbols` for one target)."""
    return cut_symbols(
        params, source_type, source_index, sliver, symbol_size, [target_index], band_bytes
    )[0]


def cut_symbols(
    params: EncodingParams,
    source_type: SliverType,
    source_index: int,
    sliver: Buffer,
    symbol_size: int,
    target_indices: Sequence[int],
    band_bytes: int,
) -> list[RecoverySymbol]:
    """The same symbols as :func:`make_symbols`, holding little besides them.

    :func:`make_symbols` expands the whole sliver (``n`` symbols). Here the parity is
    computed in bands of ``band_bytes`` bytes (rounded down to a multiple of 64) of every
    symbol at a time (the code acts on each 64-byte block on its own), each band hashed into
    its symbol's leaf and then overwritten by the next; the sliver is read where it lies (a
    view into the store's map does). The sliver is expanded and hashed once whatever the
    number of targets, so a node asked for the symbols of several lost slivers at once
    pays one expansion per source sliver. What this allocates: ``n x band_bytes`` of work
    space (the sources' band copied in, the parity computed beside it), the returned
    symbols, and the ``n`` leaf hashes.
    """
    params.check_index(source_index, "source sliver index")
    for target in target_indices:
        params.check_index(target, "target sliver index")
    if band_bytes < 1:
        raise errors.ParameterError(f"band of {band_bytes} bytes")
    expected = params.symbols_in(source_type) * symbol_size
    if len(sliver) != expected:
        raise errors.ParameterError(
            f"{source_type} sliver {source_index} has {len(sliver)} bytes, expected {expected} "
            f"for symbols of {symbol_size} bytes"
        )
    if symbol_size <= max(band_bytes & ~63, 64):
        # one band holds whole symbols: expand and hash them all in one native call each
        # (at 1000 shards a symbol is a few hundred bytes, and a loop over the ~n parity
        # symbols in Python would cost more than the code itself)
        expanded = slivers.expand(params, source_type, sliver, symbol_size)
        tree = merkle.Tree(merkle.split(merkle.leaf_hashes(expanded, symbol_size, len(expanded))))
        return [
            RecoverySymbol(source_type, source_index, t, expanded[t].tobytes(), tuple(proof))
            for t, proof in zip(target_indices, tree.proofs(list(target_indices)), strict=True)
        ]
    source = slivers.source_symbols(params, source_type, sliver, symbol_size)
    k = source.shape[0]
    leaves = merkle.split(merkle.leaf_hashes(source, symbol_size, k))
    data = {t: source[t].tobytes() for t in target_indices if t < k}
    parity_targets = sorted({t for t in target_indices if t >= k})
    if params.n_shards > k:
        # the code acts on each 64-byte block of a symbol alone, so bands cut at multiples
        # of 64 bytes give the same parity bytes as the whole symbols
        band = min(max(band_bytes & ~63, 64), symbol_size)
        work = np.empty((params.n_shards, band), dtype=np.uint8)
        hashers = [merkle.LeafHasher() for _ in range(params.n_shards - k)]
        pieces: dict[int, list[bytes]] = {t: [] for t in parity_targets}
        code = slivers.code_for(params, source_type)
        for offset in range(0, symbol_size, band):
            width = min(band, symbol_size - offset)
            work[:k, :width] = source[:, offset : offset + width]
            code.extend(work, width, shard_stride=band)
            for j, hasher in enumerate(hashers):
                hasher.update(work[k + j, :width].data)
            for t, got in pieces.items():
                got.append(work[t, :width].tobytes())
        leaves += [hasher.digest() for hasher in hashers]
        data.update((t, b"".join(got)) for t, got in pieces.items())
    tree = merkle.Tree(leaves)
    proofs = tree.proofs(list(target_indices))
    return [
        RecoverySymbol(source_type, source_index, t, data[t], tuple(proof))
        for t, proof in zip(target_indices, proofs, strict=True)
    ]


def _shape_error(metadata: BlobMetadata, symbol: RecoverySymbol) -> str | None:
    """What is wrong with a symbol's indices or sizes, before looking at its proof."""
    n = metadata.n_shards
    if not (0 <= symbol.source_index < n and 0 <= symbol.target_index < n):
        return f"index out of range 0..{n - 1}"
    if len(symbol.data) != metadata.symbol_size:
        return f"size {len(symbol.data)} bytes, expected {metadata.symbol_size}"
    if len(symbol.proof) != proof_length(n):
        return f"proof has {len(symbol.proof)} nodes, expected {proof_length(n)}"
    return None


def _error(symbol: RecoverySymbol, reason: str) -> errors.InvalidSymbolError:
    return errors.InvalidSymbolError(
        str(symbol.source_type), symbol.source_index, symbol.target_index, reason
    )


def verify_symbol(metadata: BlobMetadata, symbol: RecoverySymbol) -> None:
    """Raise :class:`errors.InvalidSymbolError` unless the symbol is committed to."""
    verify_symbols(metadata, [symbol])


def verify_symbols(metadata: BlobMetadata, symbols: Sequence[RecoverySymbol]) -> None:
    """:func:`verify_symbol` of each symbol, the proofs checked in one native call; the
    error names the first bad symbol in order."""
    for symbol in symbols:
        reason = _shape_error(metadata, symbol)
        if reason is not None:
            raise _error(symbol, reason)
    valid = merkle.verify_many(
        [metadata.sliver_hash(s.source_type, s.source_index) for s in symbols],
        [s.data for s in symbols],
        [s.target_index for s in symbols],
        [s.proof for s in symbols],
    )
    for symbol, ok in zip(symbols, valid, strict=True):
        if not ok:
            raise _error(symbol, "Merkle proof does not match the metadata")


def symbol_errors(metadata: BlobMetadata, symbols: Sequence[RecoverySymbol]) -> list[str | None]:
    """For each symbol, why it is not committed to by the metadata (None: it is): the
    proofs checked in one native call. Unlike :func:`verify_symbols` this goes on past a
    bad symbol, so that a peer's good symbols are kept beside its bad ones."""
    reasons = [_shape_error(metadata, symbol) for symbol in symbols]
    shaped = [s for s, reason in zip(symbols, reasons, strict=True) if reason is None]
    valid = iter(
        merkle.verify_many(
            [metadata.sliver_hash(s.source_type, s.source_index) for s in shaped],
            [s.data for s in shaped],
            [s.target_index for s in shaped],
            [s.proof for s in shaped],
        )
    )
    return [
        reason
        if reason is not None
        else (None if next(valid) else "Merkle proof does not match the metadata")
        for reason in reasons
    ]


def recover_sliver(
    metadata: BlobMetadata,
    target_type: SliverType,
    target_index: int,
    symbols: Iterable[RecoverySymbol],
    *,
    verified: bool = False,
) -> bytes:
    """Rebuild sliver ``target_index`` of ``target_type`` from recovery symbols."""
    params, s = metadata.params, metadata.symbol_size
    params.check_index(target_index, "target sliver index")
    k = params.symbols_to_recover(target_type)
    by_source: dict[int, RecoverySymbol] = {}
    given = list(symbols)
    for symbol in given:
        if symbol.source_type is not target_type.orthogonal or symbol.target_index != target_index:
            raise _error(symbol, f"not a symbol for {target_type} sliver {target_index}")
        if verified and (reason := _shape_error(metadata, symbol)) is not None:
            raise _error(symbol, reason)
    if not verified:
        verify_symbols(metadata, given)
    for symbol in given:
        by_source.setdefault(symbol.source_index, symbol)
    if len(by_source) < k:
        raise errors.NotEnoughDataError("recovery symbols", k, len(by_source))

    chosen = sorted(by_source, key=lambda i: (i >= k, i))[:k]
    out = np.empty((k, s), dtype=np.uint8)
    for index in chosen:
        if index < k:
            out[index] = np.frombuffer(by_source[index].data, dtype=np.uint8)
    missing = [i for i in range(k) if i not in chosen]
    if missing:
        slivers.code_for(params, target_type).reconstruct(
            s, chosen, [by_source[i].data for i in chosen], missing, out
        )
    root = slivers.sliver_root(params, target_type, out, s)
    if root != metadata.sliver_hash(target_type, target_index):
        raise errors.InconsistentEncodingError(
            f"recovered {target_type} sliver {target_index} does not match its commitment"
        )
    return out.tobytes()
