"""Inconsistency proofs: a tampered encoding yields a proof anyone can check; an honest one
cannot be framed; the wire decoder refuses garbage with its one documented error."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.codec import samples
from walrus_node.codec import errors, inconsistency
from walrus_node.codec.inconsistency import InconsistencyProof
from walrus_node.codec.params import SliverType


def _proof_of(t: samples.Tampered, target_type: SliverType) -> InconsistencyProof:
    params = t.enc.params
    need = params.symbols_to_recover(target_type)
    systematic = params.symbols_in(t.sliver_type.orthogonal)
    # The tampered sliver, and honest ones, but not systematic sliver 0: decoding must use
    # the tampered parity.
    sources = [t.index, *[i for i in range(1, params.n) if i != t.index][: need - 1]]
    assert 0 not in sources and systematic > 0
    symbols = t.symbols_for(target_type, t.changed_symbol, sources)
    return InconsistencyProof(target_type, t.changed_symbol, tuple(symbols))


@settings(max_examples=20, deadline=None)
@given(n=st.sampled_from([4, 7, 10]), source_type=samples.sliver_types())
def test_a_proof_of_a_tampered_encoding_verifies_and_survives_the_wire(
    n: int, source_type: SliverType
) -> None:
    enc = samples.encoded(n, 4000)
    t = samples.tamper(enc, source_type, n - 1, 0)
    proof = _proof_of(t, source_type.orthogonal)
    parsed = InconsistencyProof.from_bytes(proof.to_bytes())
    assert parsed == proof
    inconsistency.verify(t.metadata, parsed)


def test_honest_symbols_prove_nothing() -> None:
    enc = samples.encoded(7, 4000)
    symbols = samples.symbols_for(enc, SliverType.SECONDARY, 2, [1, 2, 3, 4, 5, 6])
    proof = InconsistencyProof(SliverType.SECONDARY, 2, tuple(symbols))
    with pytest.raises(errors.InvalidProofError, match="as committed"):
        inconsistency.verify(enc.metadata, proof)


def test_a_proof_with_a_forged_symbol_is_refused() -> None:
    enc = samples.encoded(7, 4000)
    t = samples.tamper(enc, SliverType.PRIMARY, 6, 0)
    proof = _proof_of(t, SliverType.SECONDARY)
    first = proof.symbols[0]
    forged = type(first)(
        first.source_type,
        first.source_index,
        first.target_index,
        samples.flip_bit(first.data, 0),
        first.proof,
    )
    bad = InconsistencyProof(proof.target_type, proof.target_index, (forged, *proof.symbols[1:]))
    with pytest.raises(errors.InvalidProofError, match="Merkle proof"):
        inconsistency.verify(t.metadata, bad)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_the_proof_decoder_returns_a_proof_or_raises_invalid_proof(data: bytes) -> None:
    with contextlib.suppress(errors.InvalidProofError):
        InconsistencyProof.from_bytes(data)


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_mutated_proofs_are_refused_or_still_prove_the_inconsistency(data: st.DataObject) -> None:
    enc = samples.encoded(7, 4000)
    t = samples.tamper(enc, SliverType.PRIMARY, 6, 0)
    raw = bytearray(_proof_of(t, SliverType.SECONDARY).to_bytes())
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] ^= data.draw(st.integers(1, 255))
    with contextlib.suppress(errors.InvalidProofError):
        inconsistency.verify(t.metadata, InconsistencyProof.from_bytes(bytes(raw)))
