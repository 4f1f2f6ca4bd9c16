"""The migration benchmark's rates over several shards per source: summed bytes over the
span from the first start to the last end, not the rate of one shard; and ``--cold``
really leaves the nodes' store files out of the page cache."""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import mmap
import os
import pathlib
import sys
from typing import Any, cast

import pytest

from walrus_node.bench import migration
from walrus_node.protocol.views import ShardSyncView


def _view(
    shard: int, start: float, recovery: float, end: float, sent: int, rebuilt: int
) -> ShardSyncView:
    return ShardSyncView(
        shard=shard,
        state="done",
        source="node-1",
        bytes=sent,
        recovered_bytes=rebuilt,
        started_at=start,
        recovery_started_at=recovery,
        finished_at=end,
    )


def test_rates_sum_bytes_over_the_whole_span() -> None:
    views = [
        _view(0, 10.0, 12.0, 13.0, 10_000_000, 1_000_000),
        _view(1, 11.0, 14.0, 16.0, 10_000_000, 3_000_000),
    ]
    # 20 MB streamed between 10 s and 14 s; 4 MB rebuilt between 12 s and 16 s.
    assert migration._cooperative_rate(views) == 5.0
    assert migration._recovery_rate(views) == 1.0
    assert migration._recovery_span(views) == 4.0


def test_no_shards_no_rate() -> None:
    assert migration._cooperative_rate([]) == 0.0
    assert migration._recovery_rate([]) == 0.0
    assert migration._recovery_span([]) == 0.0


def _cached_pages(path: pathlib.Path) -> int:
    """Pages of ``path`` in the page cache (``mincore`` over a map of it)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    size = path.stat().st_size
    pages = -(-size // mmap.PAGESIZE)
    # A private map (writable for ctypes, never written): mincore reports the file's pages.
    with open(path, "rb") as f, mmap.mmap(f.fileno(), size, access=mmap.ACCESS_COPY) as m:
        view = ctypes.c_char.from_buffer(m)
        vector = ctypes.create_string_buffer(pages)
        result = libc.mincore(ctypes.addressof(view), size, vector)
        del view
        assert result == 0, ctypes.get_errno()
    return sum(byte & 1 for byte in vector.raw)


@dataclasses.dataclass
class _Node:
    data_dir: pathlib.Path


@dataclasses.dataclass
class _Bed:
    nodes: list[_Node]


@pytest.mark.skipif(sys.platform != "linux", reason="posix_fadvise and mincore")
def test_cold_drops_every_nodes_store_file_from_the_page_cache(tmp_path: pathlib.Path) -> None:
    nodes = [_Node(tmp_path / f"node-{i}") for i in range(2)]
    for node in nodes:
        node.data_dir.mkdir()
        data = node.data_dir / "data.mdb"
        with open(data, "wb") as f:
            f.write(os.urandom(1 << 20))
            f.flush()
            os.fsync(f.fileno())
        assert data.read_bytes()  # read: in the page cache
        assert _cached_pages(data) > 0
    migration._drop_page_cache(cast(Any, _Bed(nodes)))
    assert [_cached_pages(n.data_dir / "data.mdb") for n in nodes] == [0, 0]
