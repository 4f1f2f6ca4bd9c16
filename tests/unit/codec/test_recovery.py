"""Rebuilding lost slivers from recovery symbols."""

from __future__ import annotations

import dataclasses
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.codec import samples
from walrus_node.codec import errors, merkle, recovery
from walrus_node.codec.params import SliverType


@settings(max_examples=60, deadline=None)
@given(
    n=samples.shards,
    length=samples.lengths,
    target_type=samples.sliver_types(),
    data=st.data(),
)
def test_each_sliver_type_is_rebuilt_from_exactly_the_needed_symbols_of_random_sources(
    n: int, length: int, target_type: SliverType, data: st.DataObject
) -> None:
    enc = samples.encoded(n, length)
    params = enc.params
    target = data.draw(st.integers(0, n - 1), label="target")
    need = params.symbols_to_recover(target_type)
    sources = data.draw(st.permutations(range(n)), label="sources")[:need]
    symbols = samples.symbols_for(enc, target_type, target, sources)
    rebuilt = recovery.recover_sliver(enc.metadata, target_type, target, symbols)
    assert rebuilt == samples.sliver_bytes(enc, target_type, target)


@pytest.mark.parametrize("kind", samples.SUBSET_KINDS)
@pytest.mark.parametrize("target_type", samples.SLIVER_TYPES, ids=str)
@pytest.mark.parametrize("n", [4, 5, 6, 10, 31])
def test_recovery_from_each_kind_of_source_subset(
    n: int, target_type: SliverType, kind: str
) -> None:
    enc = samples.encoded(n, 3000)
    rng = random.Random(f"{n}{target_type}{kind}")
    # Sources of a primary target are secondary slivers and vice versa; a minimal set of
    # them has the size of a minimal decoding set of their own type.
    sources = samples.subset(kind, enc.params, target_type.orthogonal, rng)
    assert len(sources) == enc.params.symbols_to_recover(target_type)
    for target in (0, n - 1, rng.randrange(n)):
        symbols = samples.symbols_for(enc, target_type, target, sources)
        rebuilt = recovery.recover_sliver(enc.metadata, target_type, target, symbols)
        assert rebuilt == samples.sliver_bytes(enc, target_type, target)


def test_recovery_moves_about_the_size_of_the_sliver_it_rebuilds() -> None:
    enc = samples.encoded(10, 100_000)
    for target_type in samples.SLIVER_TYPES:
        need = enc.params.symbols_to_recover(target_type)
        symbols = samples.symbols_for(enc, target_type, 3, range(need))
        assert sum(len(s.data) for s in symbols) == len(samples.sliver_bytes(enc, target_type, 3))


def test_duplicate_and_extra_symbols_are_accepted() -> None:
    enc = samples.encoded(13, 5000)
    symbols = samples.symbols_for(enc, SliverType.SECONDARY, 2, range(13))
    rebuilt = recovery.recover_sliver(enc.metadata, SliverType.SECONDARY, 2, symbols + symbols)
    assert rebuilt == samples.sliver_bytes(enc, SliverType.SECONDARY, 2)


@settings(max_examples=30, deadline=None)
@given(n=samples.shards, target_type=samples.sliver_types(), data=st.data())
def test_one_symbol_fewer_than_needed_is_not_enough_data(
    n: int, target_type: SliverType, data: st.DataObject
) -> None:
    enc = samples.encoded(n, 900)
    need = enc.params.symbols_to_recover(target_type)
    sources = data.draw(st.permutations(range(n)), label="sources")[: need - 1]
    symbols = samples.symbols_for(enc, target_type, 0, sources)
    # Repeating a symbol does not make it count twice.
    with pytest.raises(errors.NotEnoughDataError) as caught:
        recovery.recover_sliver(enc.metadata, target_type, 0, symbols + symbols[:1])
    assert (caught.value.needed, caught.value.got) == (need, need - 1)
    assert "recovery symbols" in str(caught.value)


def test_a_symbol_for_another_target_or_of_the_wrong_type_is_rejected() -> None:
    enc = samples.encoded(7, 1000)
    need = enc.params.symbols_to_recover(SliverType.PRIMARY)
    good = samples.symbols_for(enc, SliverType.PRIMARY, 1, range(need))
    other_target = samples.symbols_for(enc, SliverType.PRIMARY, 2, [6])
    with pytest.raises(errors.InvalidSymbolError, match="not a symbol for primary sliver 1"):
        recovery.recover_sliver(enc.metadata, SliverType.PRIMARY, 1, good + other_target)
    wrong_type = samples.symbols_for(enc, SliverType.SECONDARY, 1, [0])
    with pytest.raises(errors.InvalidSymbolError, match="not a symbol for primary sliver 1"):
        recovery.recover_sliver(enc.metadata, SliverType.PRIMARY, 1, good + wrong_type)


def test_symbols_carry_proofs_of_the_stated_length() -> None:
    for n, expected in [(4, 2), (5, 3), (8, 3), (9, 4), (100, 7), (256, 8)]:
        assert recovery.proof_length(n) == expected
    enc = samples.encoded(9, 100)
    (symbol,) = samples.symbols_for(enc, SliverType.SECONDARY, 4, [0])
    assert len(symbol.proof) == 4
    assert all(len(node) == merkle.DIGEST_SIZE for node in symbol.proof)
    recovery.verify_symbol(enc.metadata, symbol)


@pytest.mark.slow
@settings(max_examples=8, deadline=None)
@given(
    n=st.one_of(st.just(256), st.integers(41, 256)),
    target_type=samples.sliver_types(),
    data=st.data(),
)
def test_recovery_at_large_shard_counts(
    n: int, target_type: SliverType, data: st.DataObject
) -> None:
    enc = samples.encoded(n, 40_000)
    target = data.draw(st.integers(0, n - 1), label="target")
    need = enc.params.symbols_to_recover(target_type)
    sources = data.draw(st.permutations(range(n)), label="sources")[:need]
    symbols = samples.symbols_for(enc, target_type, target, sources)
    rebuilt = recovery.recover_sliver(enc.metadata, target_type, target, symbols)
    assert rebuilt == samples.sliver_bytes(enc, target_type, target)


@settings(max_examples=60, deadline=None)
@given(
    n=samples.shards,
    length=samples.lengths,
    source_type=samples.sliver_types(),
    band=st.integers(1, 5000),
    data=st.data(),
)
def test_a_symbol_cut_in_bands_equals_the_one_from_the_whole_expanded_sliver(
    n: int, length: int, source_type: SliverType, band: int, data: st.DataObject
) -> None:
    """``make_symbol`` computes the parity a band at a time from a read-only view; the
    symbol and its proof are the same bytes as when the sliver is expanded whole."""
    enc = samples.encoded(n, length)
    source = data.draw(st.integers(0, n - 1), label="source")
    target = data.draw(st.integers(0, n - 1), label="target")
    sliver = samples.sliver_bytes(enc, source_type, source)
    s = enc.metadata.symbol_size
    whole = recovery.make_symbols(enc.params, source_type, source, sliver, s, [target])[0]
    cut = recovery.make_symbol(enc.params, source_type, source, memoryview(sliver), s, target, band)
    assert cut == whole
    recovery.verify_symbol(enc.metadata, cut)


def test_a_symbol_band_must_be_positive() -> None:
    enc = samples.encoded(4, 1000)
    sliver = samples.sliver_bytes(enc, SliverType.PRIMARY, 0)
    with pytest.raises(errors.ParameterError, match="band"):
        recovery.make_symbol(
            enc.params, SliverType.PRIMARY, 0, sliver, enc.metadata.symbol_size, 1, 0
        )


@settings(max_examples=60, deadline=None)
@given(
    n=samples.shards,
    length=samples.lengths,
    source_type=samples.sliver_types(),
    band=st.integers(1, 5000),
    data=st.data(),
)
def test_symbols_for_several_targets_cut_in_one_pass_equal_those_of_the_whole_sliver(
    n: int, length: int, source_type: SliverType, band: int, data: st.DataObject
) -> None:
    """``cut_symbols`` expands a sliver once for many targets (in bands, or whole when a
    band holds a symbol); each symbol and proof is the bytes ``make_symbols`` gives."""
    enc = samples.encoded(n, length)
    source = data.draw(st.integers(0, n - 1), label="source")
    targets = data.draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=n), label="targets")
    sliver = samples.sliver_bytes(enc, source_type, source)
    s = enc.metadata.symbol_size
    whole = recovery.make_symbols(enc.params, source_type, source, sliver, s, targets)
    cut = recovery.cut_symbols(
        enc.params, source_type, source, memoryview(sliver), s, targets, band
    )
    assert cut == whole
    recovery.verify_symbols(enc.metadata, cut)


@settings(max_examples=40, deadline=None)
@given(
    n=samples.shards,
    length=samples.lengths,
    target_type=samples.sliver_types(),
    data=st.data(),
)
def test_symbol_errors_names_exactly_the_tampered_symbols_and_keeps_the_rest(
    n: int, length: int, target_type: SliverType, data: st.DataObject
) -> None:
    enc = samples.encoded(n, length)
    target = data.draw(st.integers(0, n - 1), label="target")
    symbols = samples.symbols_for(enc, target_type, target, range(n))
    bad = data.draw(st.sets(st.integers(0, n - 1)), label="tampered")
    sent = [
        dataclasses.replace(sym, data=bytes([sym.data[0] ^ 1]) + sym.data[1:]) if i in bad else sym
        for i, sym in enumerate(symbols)
    ]
    reasons = recovery.symbol_errors(enc.metadata, sent)
    assert [i for i, r in enumerate(reasons) if r is not None] == sorted(bad)
