"""Drop-behind of the store file's page cache: big writes give back the file's pages that
fall out of the window behind the data's end, keep the window, and change nothing the
store returns."""

from __future__ import annotations

import ctypes
import mmap
import os
import pathlib
import sys

import pytest

from walrus_node.codec.params import SliverType
from walrus_node.store.store import BlobInfo, BlobState, Store

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="posix_fadvise, mincore")

MiB = 1 << 20
PAGE = mmap.PAGESIZE


def _cached(path: pathlib.Path, start: int, end: int) -> int:
    """Bytes of ``path`` from ``start`` to ``end`` that are in the page cache (mincore)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]
    with open(path, "r+b") as f:
        m = mmap.mmap(f.fileno(), end)
        try:
            base = ctypes.addressof(ctypes.c_char.from_buffer(m))
            pages = (end - start) // PAGE
            vec = (ctypes.c_ubyte * pages)()
            assert libc.mincore(base + start, end - start, vec) == 0, ctypes.get_errno()
            del base
            return sum(v & 1 for v in vec) * PAGE
        finally:
            m.close()


def _store_blobs(store: Store, count: int, size: int) -> dict[bytes, bytes]:
    blobs = {}
    for i in range(count):
        blob_id = i.to_bytes(32, "big")
        data = os.urandom(size)
        store.put_blob(
            blob_id,
            b"m" * 100,
            BlobInfo(BlobState.REGISTERED, 1),
            [(0, SliverType.PRIMARY, blob_id, data)],
        )
        blobs[blob_id] = data
    return blobs


@pytest.mark.parametrize("window", [16 * MiB, 0])
def test_pages_behind_the_window_are_given_back_and_the_window_kept(
    tmp_path: pathlib.Path, window: int
) -> None:
    store = Store(tmp_path / "db", map_size=1 << 30, disk_reserve=0, page_cache_window=window)
    try:
        blobs = _store_blobs(store, 12, 4 * MiB)  # 48 MiB written, 16 MiB steps
        end = store._data_end()
        data_file = tmp_path / "db" / "data.mdb"
        old = _cached(data_file, 0, 24 * MiB)
        recent = _cached(data_file, end - window + PAGE, end) if window else 0
        for blob_id, data in blobs.items():  # dropped pages are read again from the disk
            assert store.get_sliver(0, SliverType.PRIMARY, blob_id) == data
    finally:
        store.close()
    if window:
        assert old < MiB, old  # given back
        assert recent >= window - 2 * MiB, recent  # kept (B-tree pages aside)
    else:  # the control: without a window, the kernel keeps everything written
        assert old >= 23 * MiB, old


def test_small_writes_drop_nothing(tmp_path: pathlib.Path) -> None:
    store = Store(tmp_path / "db", map_size=1 << 30, disk_reserve=0, page_cache_window=MiB)
    try:
        for i in range(64):
            store.put_state(f"k{i}", os.urandom(64 << 10))
        data_file = tmp_path / "db" / "data.mdb"
        assert _cached(data_file, 0, 2 * MiB) >= 2 * MiB - (64 << 10)
    finally:
        store.close()


def test_a_store_reopened_keeps_the_cache_it_finds(tmp_path: pathlib.Path) -> None:
    store = Store(tmp_path / "db", map_size=1 << 30, disk_reserve=0)
    _store_blobs(store, 8, 4 * MiB)
    store.close()
    store = Store(tmp_path / "db", map_size=1 << 30, disk_reserve=0, page_cache_window=8 * MiB)
    try:
        data_file = tmp_path / "db" / "data.mdb"
        assert _cached(data_file, 0, 24 * MiB) >= 23 * MiB  # nothing dropped at open
    finally:
        store.close()


def test_a_negative_window_is_refused(tmp_path: pathlib.Path) -> None:
    with pytest.raises(ValueError, match="negative"):
        Store(tmp_path / "db", map_size=1 << 30, page_cache_window=-1)
