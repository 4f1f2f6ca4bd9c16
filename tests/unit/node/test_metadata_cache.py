"""The node's cache of parsed metadata: held within its bytes whatever the shard count
(at 1000 shards one parsed metadata is ~190 KiB: a cache bounded by entries alone held
hundreds of MiB), and its cost per entry no smaller than what an entry really holds."""

from __future__ import annotations

import os
import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walrus_node.codec import encoder
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.service.context import MetadataCache, metadata_cost

_METADATA = {n: encoder.encode(b"x", n).metadata for n in (4, 7, 40, 1000)}


@pytest.mark.parametrize("n", [4, 7, 100, 1000])
def test_the_cost_of_an_entry_is_at_least_what_a_parsed_metadata_holds(n: int) -> None:
    raw = encoder.encode(os.urandom(100), n).metadata.to_bytes()
    count = 20
    tracemalloc.start()
    try:
        parsed = [BlobMetadata.from_bytes(raw) for _ in range(count)]
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(parsed) == count
    assert held / count <= metadata_cost(n)
    assert held / count >= metadata_cost(n) / 2, (held / count, metadata_cost(n))  # not far above


@given(
    limit=st.integers(0, 600_000),
    puts=st.lists(st.tuples(st.integers(0, 30), st.sampled_from(sorted(_METADATA))), max_size=60),
)
def test_the_cache_stays_within_its_bytes_and_keeps_the_most_recent(
    limit: int, puts: list[tuple[int, int]]
) -> None:
    cache = MetadataCache(limit)
    for key, n in puts:
        blob_id = key.to_bytes(32, "big")
        cache.put(blob_id, _METADATA[n])
        assert cache.used <= limit
        if metadata_cost(n) <= limit:
            assert cache.get(blob_id) is _METADATA[n]
        else:
            assert cache.get(blob_id) is None
    kept = [cache.get(k.to_bytes(32, "big")) for k in range(31)]
    assert cache.used == sum(metadata_cost(m.n_shards) for m in kept if m is not None)


def test_a_forgotten_blob_gives_back_its_bytes() -> None:
    cache = MetadataCache(1 << 20)
    cache.put(bytes(32), _METADATA[1000])
    assert cache.used == metadata_cost(1000)
    cache.forget(bytes(32))
    cache.forget(bytes(32))  # twice: harmless
    assert (cache.used, len(cache), cache.get(bytes(32))) == (0, 0, None)
