"""A single flipped bit anywhere is caught, by the right error, naming what failed."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.unit.codec import samples
from walrus_node.codec import decoder, encoder, errors, metadata, recovery, slivers
from walrus_node.codec.params import SliverType

# Each test draws an encoding from these: tiny symbols, a mid-size blob, and n=3f+2.
ENCODINGS = st.sampled_from([(4, 0), (5, 1), (7, 6), (10, 10_000), (17, 777), (31, 5000)])
# ... and from these where no two symbols are equal (every symbol holds random bytes).
DISTINCT_SYMBOL_ENCODINGS = st.sampled_from([(10, 10_000), (17, 777), (31, 5000)])


@settings(max_examples=120, deadline=None)
@given(case=ENCODINGS, sliver_type=samples.sliver_types(), data=st.data())
def test_a_flipped_bit_in_a_sliver_fails_its_verification(
    case: tuple[int, int], sliver_type: SliverType, data: st.DataObject
) -> None:
    enc = samples.encoded(*case)
    index = data.draw(st.integers(0, enc.params.n - 1), label="index")
    sliver = samples.sliver_bytes(enc, sliver_type, index)
    bit = data.draw(st.integers(0, 8 * len(sliver) - 1), label="bit")
    with pytest.raises(errors.InvalidSliverError) as caught:
        slivers.verify_sliver(enc.metadata, sliver_type, index, samples.flip_bit(sliver, bit))
    assert (caught.value.sliver_type, caught.value.index) == (str(sliver_type), index)
    assert str(caught.value) == (
        f"invalid {sliver_type} sliver {index}: Merkle root does not match the metadata"
    )


@settings(max_examples=60, deadline=None)
@given(case=ENCODINGS, sliver_type=samples.sliver_types(), data=st.data())
def test_decoding_with_a_flipped_bit_in_a_chosen_sliver_names_that_sliver(
    case: tuple[int, int], sliver_type: SliverType, data: st.DataObject
) -> None:
    enc = samples.encoded(*case)
    need = enc.params.needed_to_decode(sliver_type)
    # Systematic slivers are chosen first, so with exactly the threshold all are used.
    indices = data.draw(st.permutations(range(enc.params.n)), label="indices")[:need]
    bad = data.draw(st.sampled_from(indices), label="bad")
    given = samples.slivers_of(enc, sliver_type, indices)
    bit = data.draw(st.integers(0, 8 * len(given[bad]) - 1), label="bit")
    given[bad] = samples.flip_bit(given[bad], bit)
    decode = (
        decoder.decode_primary if sliver_type is SliverType.PRIMARY else decoder.decode_secondary
    )
    with pytest.raises(errors.InvalidSliverError) as caught:
        decode(enc.metadata, given)
    assert (caught.value.sliver_type, caught.value.index) == (str(sliver_type), bad)


def _symbol(
    enc_case: tuple[int, int], target_type: SliverType, data: st.DataObject
) -> tuple[encoder.EncodedBlob, recovery.RecoverySymbol]:
    enc = samples.encoded(*enc_case)
    n = enc.params.n
    source = data.draw(st.integers(0, n - 1), label="source")
    target = data.draw(st.integers(0, n - 1), label="target")
    (symbol,) = samples.symbols_for(enc, target_type, target, [source])
    return enc, symbol


@settings(max_examples=100, deadline=None)
@given(case=ENCODINGS, target_type=samples.sliver_types(), data=st.data())
def test_a_flipped_bit_in_a_recovery_symbol_fails_its_proof(
    case: tuple[int, int], target_type: SliverType, data: st.DataObject
) -> None:
    enc, symbol = _symbol(case, target_type, data)
    bit = data.draw(st.integers(0, 8 * len(symbol.data) - 1), label="bit")
    bad = dataclasses.replace(symbol, data=samples.flip_bit(symbol.data, bit))
    with pytest.raises(errors.InvalidSymbolError) as caught:
        recovery.verify_symbol(enc.metadata, bad)
    assert str(caught.value) == (
        f"invalid recovery symbol from {target_type.orthogonal} sliver {symbol.source_index} "
        f"for index {symbol.target_index}: Merkle proof does not match the metadata"
    )


@settings(max_examples=100, deadline=None)
@given(case=ENCODINGS, target_type=samples.sliver_types(), data=st.data())
def test_a_flipped_bit_in_a_proof_node_fails_the_proof(
    case: tuple[int, int], target_type: SliverType, data: st.DataObject
) -> None:
    enc, symbol = _symbol(case, target_type, data)
    node = data.draw(st.integers(0, len(symbol.proof) - 1), label="node")
    bit = data.draw(st.integers(0, 8 * 32 - 1), label="bit")
    proof = list(symbol.proof)
    proof[node] = samples.flip_bit(proof[node], bit)
    bad = dataclasses.replace(symbol, proof=tuple(proof))
    with pytest.raises(errors.InvalidSymbolError, match="Merkle proof does not match"):
        recovery.verify_symbol(enc.metadata, bad)


@settings(max_examples=60, deadline=None)
@given(case=DISTINCT_SYMBOL_ENCODINGS, target_type=samples.sliver_types(), data=st.data())
def test_a_symbol_claiming_another_source_or_target_fails_the_proof(
    case: tuple[int, int], target_type: SliverType, data: st.DataObject
) -> None:
    enc, symbol = _symbol(case, target_type, data)
    n = enc.params.n
    if data.draw(st.booleans(), label="change the source (else the target)"):
        source = data.draw(st.integers(0, n - 1).filter(lambda v: v != symbol.source_index))
        bad = dataclasses.replace(symbol, source_index=source)
    else:
        target = data.draw(st.integers(0, n - 1).filter(lambda v: v != symbol.target_index))
        bad = dataclasses.replace(symbol, target_index=target)
    # Zero padding makes neighbouring symbols equal; a claim that happens to be true
    # (same bytes as the honest symbol at the claimed place) rightly verifies.
    (honest,) = samples.symbols_for(enc, target_type, bad.target_index, [bad.source_index])
    assume(honest.data != bad.data)
    with pytest.raises(errors.InvalidSymbolError, match="Merkle proof does not match"):
        recovery.verify_symbol(enc.metadata, bad)


@settings(max_examples=60, deadline=None)
@given(case=ENCODINGS, target_type=samples.sliver_types(), data=st.data())
def test_recovering_with_a_flipped_symbol_names_the_bad_symbol(
    case: tuple[int, int], target_type: SliverType, data: st.DataObject
) -> None:
    enc = samples.encoded(*case)
    need = enc.params.symbols_to_recover(target_type)
    sources = data.draw(st.permutations(range(enc.params.n)), label="sources")[:need]
    symbols = samples.symbols_for(enc, target_type, 0, sources)
    position = data.draw(st.integers(0, need - 1), label="position")
    bit = data.draw(st.integers(0, 8 * enc.symbol_size - 1), label="bit")
    symbols[position] = dataclasses.replace(
        symbols[position], data=samples.flip_bit(symbols[position].data, bit)
    )
    with pytest.raises(errors.InvalidSymbolError) as caught:
        recovery.recover_sliver(enc.metadata, target_type, 0, symbols)
    assert caught.value.source_index == sources[position]


@settings(max_examples=150, deadline=None)
@given(case=ENCODINGS, data=st.data())
def test_a_flipped_bit_in_the_metadata_bytes_is_invalid_metadata(
    case: tuple[int, int], data: st.DataObject
) -> None:
    enc = samples.encoded(*case)
    raw = enc.metadata.to_bytes()
    bit = data.draw(st.integers(0, 8 * len(raw) - 1), label="bit")
    with pytest.raises(errors.InvalidMetadataError) as caught:
        metadata.verify_metadata(enc.blob_id, samples.flip_bit(raw, bit))
    assert str(caught.value).startswith("invalid metadata: ")


@pytest.mark.parametrize(
    ("byte", "reason"),
    [
        (0, "unknown encoding type"),
        (1, "length 459 bytes, expected"),  # the shard count
        (3, "hashes to blob ID"),  # the low byte of the length
        (10, "exceeds the maximum"),  # its high byte
        (11, "hashes to blob ID"),  # first pair hash
        (458, "hashes to blob ID"),  # last pair hash
    ],
)
def test_the_metadata_error_says_which_part_is_wrong(byte: int, reason: str) -> None:
    enc = samples.encoded(7, 6)
    raw = samples.flip_bit(enc.metadata.to_bytes(), 8 * byte + 7)
    with pytest.raises(errors.InvalidMetadataError, match=reason):
        metadata.verify_metadata(enc.blob_id, raw)


@settings(max_examples=100, deadline=None)
@given(case=ENCODINGS, bit=st.integers(0, 255))
def test_a_flipped_bit_in_the_blob_id_is_invalid_metadata(case: tuple[int, int], bit: int) -> None:
    enc = samples.encoded(*case)
    other = metadata.BlobId(samples.flip_bit(enc.blob_id.raw, bit))
    with pytest.raises(errors.InvalidMetadataError, match=f"not {other}"):
        metadata.verify_metadata(other, enc.metadata.to_bytes())
