"""The store's sliver checksums: XXH3-128 for what it stores, and the BLAKE3 checksums of
slivers stored by earlier versions still accepted, in the same store."""

from __future__ import annotations

import pathlib

import blake3
import lmdb
import pytest
import xxhash

from walrus_node.codec.params import SliverType
from walrus_node.protocol.sliver_buffer import SliverBuffer
from walrus_node.store.store import BlobInfo, BlobState, CorruptSliverError, Store

P = SliverType.PRIMARY
OLD, NEW = bytes(31) + b"\x01", bytes(31) + b"\x02"
DATA = bytes(range(256)) * 4
XXH3_128_OF_DATA = bytes.fromhex("83885e853bb6640ca870f92984398d22")
"""XXH3-128 (seed 0) of ``DATA``: the checksum stored in front of the sliver."""
BLAKE3_16_OF_DATA = bytes.fromhex("882179b8dbccd285cda241d968cfcccb")
"""BLAKE3 of ``DATA`` truncated to 16 bytes: what earlier versions stored."""


def _put(store: Store, blob_id: bytes) -> None:
    store.put_blob(blob_id, b"meta", BlobInfo(BlobState.REGISTERED, 1), [(0, P, blob_id, DATA)])


def _raw_value(path: pathlib.Path, blob_id: bytes, replace: bytes | None = None) -> bytes:
    """The stored value of ``blob_id``'s primary sliver of shard 0, read (and with
    ``replace``, rewritten) around the store's code."""
    env = lmdb.open(str(path), max_dbs=8, map_size=1 << 30)
    try:
        db = env.open_db(b"shard/0/primary", create=False)
        with env.begin(write=replace is not None) as txn:
            if replace is not None:
                txn.put(blob_id, replace, db=db)
            value = txn.get(blob_id, db=db)
            assert value is not None
            return bytes(value)
    finally:
        env.close()


@pytest.fixture
def path(tmp_path: pathlib.Path) -> pathlib.Path:
    """A store holding a sliver stored as an earlier version stored it (``OLD``, BLAKE3)
    and one stored by this one (``NEW``)."""
    path = tmp_path / "db"
    store = Store(path, map_size=1 << 30)
    _put(store, OLD)
    _put(store, NEW)
    store.close()
    _raw_value(path, OLD, replace=BLAKE3_16_OF_DATA + DATA)
    return path


def test_a_sliver_is_stored_with_its_xxh3_128(path: pathlib.Path) -> None:
    assert _raw_value(path, NEW) == XXH3_128_OF_DATA + DATA


def test_a_received_sliver_is_stored_from_its_buffer_as_bytes_are(tmp_path: pathlib.Path) -> None:
    """A sliver filled into a :class:`SliverBuffer` (an upload) is stored byte for byte as
    the same sliver given as bytes, its checksum written into the buffer's room."""
    path = tmp_path / "db"
    store = Store(path, map_size=1 << 30)
    buffer = SliverBuffer(len(DATA))
    buffer.append(DATA[:1000])
    buffer.append(DATA[1000:])
    store.put_blob(NEW, b"meta", BlobInfo(BlobState.REGISTERED, 1), [(0, P, NEW, buffer)])
    assert store.get_sliver(0, P, NEW) == DATA
    store.close()
    assert _raw_value(path, NEW) == XXH3_128_OF_DATA + DATA
    assert bytes(buffer.value) == XXH3_128_OF_DATA + DATA


def test_slivers_stored_by_earlier_versions_keep_their_blake3_and_are_served(
    path: pathlib.Path,
) -> None:
    store = Store(path, map_size=1 << 30)
    try:
        for blob_id in (OLD, NEW):
            assert store.get_sliver(0, P, blob_id) == DATA
            assert store.check_sliver(0, P, blob_id) == len(DATA)
            assert store.with_sliver(0, P, blob_id, bytes) == DATA
        assert store.scan_shard(0, P, b"", 10)[0] == [(OLD, DATA), (NEW, DATA)]
    finally:
        store.close()
    assert _raw_value(path, OLD) == BLAKE3_16_OF_DATA + DATA  # nothing rewritten


@pytest.mark.parametrize("blob_id", [OLD, NEW])
def test_rot_is_found_whichever_checksum_the_sliver_carries(
    path: pathlib.Path, blob_id: bytes
) -> None:
    store = Store(path, map_size=1 << 30)
    try:
        assert store.tamper_sliver(0, P, blob_id)
        for read in (store.get_sliver, store.check_sliver):
            with pytest.raises(CorruptSliverError):
                read(0, P, blob_id)
    finally:
        store.close()


def test_a_checksum_of_neither_kind_is_rot(path: pathlib.Path) -> None:
    _raw_value(path, OLD, replace=blake3.blake3(DATA).digest()[16:32] + DATA)
    store = Store(path, map_size=1 << 30)
    try:
        with pytest.raises(CorruptSliverError):
            store.get_sliver(0, P, OLD)
    finally:
        store.close()


def test_the_golden_checksums_are_the_reference_hashes() -> None:
    """XXH3-128 of the empty input is xxHash's published test value."""
    assert xxhash.xxh3_128_digest(b"") == bytes.fromhex("99aa06d3014798d86001c324468d497f")
    assert xxhash.xxh3_128_digest(DATA) == XXH3_128_OF_DATA
    assert blake3.blake3(DATA).digest(length=16) == BLAKE3_16_OF_DATA
