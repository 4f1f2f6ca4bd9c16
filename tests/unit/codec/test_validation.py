"""Wrong sizes and indices get clear errors that name what is wrong."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from tests.unit.codec import samples
from walrus_node.codec import decoder, encoder, errors, recovery, slivers
from walrus_node.codec.params import SliverType


@pytest.fixture(scope="module")
def enc() -> encoder.EncodedBlob:
    return samples.encoded(7, 1000)  # rows 3, columns 5, symbols of 67 bytes


def test_encode_rejects_unsupported_shard_counts() -> None:
    with pytest.raises(errors.ParameterError, match="between 4 and 1000, got 3"):
        encoder.encode(b"x", 3)
    with pytest.raises(errors.ParameterError, match="between 4 and 1000, got 1001"):
        encoder.encode(b"x", 1001)


def test_sliver_accessors_check_the_index(enc: encoder.EncodedBlob) -> None:
    message = "primary sliver index 7 out of range 0..6"
    with pytest.raises(errors.ParameterError, match=re.escape(message)):
        enc.primary(7)
    with pytest.raises(errors.ParameterError, match="secondary sliver index -1 out of range"):
        enc.secondary(-1)


@pytest.mark.parametrize("sliver_type", samples.SLIVER_TYPES, ids=str)
def test_verify_sliver_names_a_wrong_size_or_index(
    enc: encoder.EncodedBlob, sliver_type: SliverType
) -> None:
    data = samples.sliver_bytes(enc, sliver_type, 1)
    expected = len(data)
    with pytest.raises(errors.InvalidSliverError) as caught:
        slivers.verify_sliver(enc.metadata, sliver_type, 1, data[:-1])
    assert str(caught.value) == (
        f"invalid {sliver_type} sliver 1: size {expected - 1} bytes, expected {expected}"
    )
    with pytest.raises(errors.InvalidSliverError, match=f"invalid {sliver_type} sliver 7: index"):
        slivers.verify_sliver(enc.metadata, sliver_type, 7, data)


def test_verify_sliver_accepts_numpy_and_memoryview_data(enc: encoder.EncodedBlob) -> None:
    data = samples.sliver_bytes(enc, SliverType.PRIMARY, 2)
    slivers.verify_sliver(enc.metadata, SliverType.PRIMARY, 2, np.frombuffer(data, np.uint8))
    slivers.verify_sliver(enc.metadata, SliverType.PRIMARY, 2, enc.primary(2))


@pytest.mark.parametrize("verified", [False, True])
@pytest.mark.parametrize("sliver_type", samples.SLIVER_TYPES, ids=str)
def test_decoders_name_a_sliver_with_a_wrong_index_or_size(
    enc: encoder.EncodedBlob, sliver_type: SliverType, verified: bool
) -> None:
    decode = (
        decoder.decode_primary if sliver_type is SliverType.PRIMARY else decoder.decode_secondary
    )
    need = enc.params.needed_to_decode(sliver_type)
    given = samples.slivers_of(enc, sliver_type, range(need))
    for bad_index in (-1, 7, 99):
        with pytest.raises(
            errors.InvalidSliverError, match=f"{sliver_type} sliver {bad_index}: index out of range"
        ):
            decode(enc.metadata, {**given, bad_index: given[0]}, verified=verified)
    short = {**given, 0: given[0][:-1]}
    with pytest.raises(errors.InvalidSliverError, match=f"{sliver_type} sliver 0: size"):
        decode(enc.metadata, short, verified=verified)


def test_make_symbols_checks_indices_and_the_sliver_size(enc: encoder.EncodedBlob) -> None:
    data = samples.sliver_bytes(enc, SliverType.PRIMARY, 0)
    params, s = enc.params, enc.symbol_size
    with pytest.raises(errors.ParameterError, match="target sliver index 7 out of range"):
        recovery.make_symbols(params, SliverType.PRIMARY, 0, data, s, [1, 7])
    with pytest.raises(errors.ParameterError, match="source sliver index 9 out of range"):
        recovery.make_symbols(params, SliverType.PRIMARY, 9, data, s, [1])
    with pytest.raises(
        errors.ParameterError, match=f"primary sliver 0 has {len(data) + 1} bytes, expected"
    ):
        recovery.make_symbols(params, SliverType.PRIMARY, 0, data + b"x", s, [1])


@pytest.mark.parametrize("verified", [False, True])
def test_recovery_names_a_symbol_with_a_wrong_size_index_or_proof(
    enc: encoder.EncodedBlob, verified: bool
) -> None:
    good = samples.symbols_for(enc, SliverType.SECONDARY, 4, range(3))
    cases = {
        "size 67 bytes, expected 68": dataclasses.replace(good[0], data=good[0].data[:-1]),
        "index out of range 0..6": dataclasses.replace(good[0], source_index=7),
        "proof has 2 nodes, expected 3": dataclasses.replace(good[0], proof=good[0].proof[:2]),
    }
    for reason, bad in cases.items():
        with pytest.raises(errors.InvalidSymbolError) as caught:
            recovery.recover_sliver(
                enc.metadata, SliverType.SECONDARY, 4, [bad, *good[1:]], verified=verified
            )
        assert str(caught.value) == (
            f"invalid recovery symbol from primary sliver {bad.source_index} for index 4: {reason}"
        )


def test_recovery_checks_the_target_index(enc: encoder.EncodedBlob) -> None:
    with pytest.raises(errors.ParameterError, match="target sliver index 7 out of range"):
        recovery.recover_sliver(enc.metadata, SliverType.PRIMARY, 7, [])


def test_errors_form_one_tree_under_codec_error() -> None:
    for error in (
        errors.ParameterError,
        errors.InvalidMetadataError,
        errors.InvalidSliverError,
        errors.InvalidSymbolError,
        errors.NotEnoughDataError,
        errors.InconsistentEncodingError,
    ):
        assert issubclass(error, errors.CodecError)
    assert issubclass(errors.InvalidSliverError, errors.VerificationError)
    assert issubclass(errors.ParameterError, ValueError)
