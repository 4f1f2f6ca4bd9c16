"""One code path for every shard count: Walrus's 1000 shards as well as 4.

For ``n`` in {4, 10, 300, 1000}: a blob round-trips through parity-heavy and random
minimal subsets of both sliver types, every sliver verifies against the metadata, a
tampered sliver does not, and a lost sliver of each type is rebuilt from recovery
symbols of random sources.
"""

from __future__ import annotations

import random

import pytest

from tests.unit.codec import samples
from walrus_node.codec import decoder, errors, recovery, slivers
from walrus_node.codec.params import SliverType

SCALES = [
    pytest.param(4, 1000, id="n4"),
    pytest.param(10, 100_000, id="n10"),
    pytest.param(300, 200_000, id="n300"),
    pytest.param(1000, 1 << 20, id="n1000", marks=pytest.mark.slow),
]


@pytest.mark.parametrize(("n", "length"), SCALES)
def test_blobs_round_trip_verify_and_recover_at_any_shard_count(n: int, length: int) -> None:
    enc = samples.encoded(n, length)
    params, meta = enc.params, enc.metadata
    blob = samples.blob(length)
    rng = random.Random(n)
    assert enc.symbol_size % 2 == 0

    for sliver_type in samples.SLIVER_TYPES:
        for kind in ("parity", "random"):
            chosen = samples.subset(kind, params, sliver_type, rng)
            given = samples.slivers_of(enc, sliver_type, chosen)
            decode = (
                decoder.decode_primary
                if sliver_type is SliverType.PRIMARY
                else decoder.decode_secondary
            )
            assert decode(meta, given) == blob, (sliver_type, kind)

    for index in sorted(rng.sample(range(n), 3)):
        for sliver_type in samples.SLIVER_TYPES:
            data = samples.sliver_bytes(enc, sliver_type, index)
            slivers.verify_sliver(meta, sliver_type, index, data)
            bad = bytearray(data)
            bad[rng.randrange(len(bad))] ^= 0x10
            with pytest.raises(errors.InvalidSliverError):
                slivers.verify_sliver(meta, sliver_type, index, bytes(bad))

    target = rng.randrange(n)
    for target_type in samples.SLIVER_TYPES:
        source_type = target_type.orthogonal
        sources = sorted(rng.sample(range(n), params.symbols_to_recover(target_type)))
        symbols = [
            recovery.make_symbols(
                params,
                source_type,
                i,
                samples.sliver_bytes(enc, source_type, i),
                enc.symbol_size,
                [target],
            )[0]
            for i in sources
        ]
        rebuilt = recovery.recover_sliver(meta, target_type, target, symbols)
        assert rebuilt == samples.sliver_bytes(enc, target_type, target)
