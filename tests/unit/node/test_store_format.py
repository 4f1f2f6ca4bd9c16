"""The store's format: which checksum guards its slivers, recorded when the store is made,
kept for stores made before formats were recorded, and an unknown one refused at open."""

from __future__ import annotations

import pathlib

import blake3
import lmdb
import pytest
import xxhash

from walrus_node.codec.params import SliverType
from walrus_node.store.store import (
    FORMAT_BLAKE3,
    FORMAT_XXH3,
    BlobInfo,
    BlobState,
    CorruptSliverError,
    Store,
    StoreError,
)

P = SliverType.PRIMARY
BLOB = bytes(31) + b"\x01"
DATA = bytes(range(256)) * 4
XXH3_128_OF_DATA = bytes.fromhex("83885e853bb6640ca870f92984398d22")
"""XXH3-128 (seed 0) of ``DATA``: the checksum format 2 stores in front of the sliver."""
BLAKE3_16_OF_DATA = bytes.fromhex("882179b8dbccd285cda241d968cfcccb")
"""BLAKE3 of ``DATA`` truncated to 16 bytes: the checksum of format 1."""


def _put(store: Store, blob_id: bytes = BLOB, data: bytes = DATA) -> None:
    store.put_blob(blob_id, b"meta", BlobInfo(BlobState.REGISTERED, 1), [(0, P, blob_id, data)])


def _raw(path: pathlib.Path) -> lmdb.Environment:
    """The store's LMDB environment, opened around the store's code."""
    return lmdb.open(str(path), max_dbs=8, map_size=1 << 30, subdir=True)


def _stored_value(path: pathlib.Path, blob_id: bytes = BLOB) -> bytes:
    env = _raw(path)
    try:
        db = env.open_db(b"shard/0/primary", create=False)
        with env.begin() as txn:
            value = txn.get(blob_id, db=db)
        assert value is not None
        return bytes(value)
    finally:
        env.close()


def _make_pre_format_store(path: pathlib.Path) -> None:
    """A store as a node made it before formats were recorded: no ``store_format`` key and
    its sliver checksummed with BLAKE3."""
    store = Store(path, map_size=1 << 30)
    _put(store)
    store.close()
    env = _raw(path)
    try:
        state = env.open_db(b"state", create=False)
        db = env.open_db(b"shard/0/primary", create=False)
        with env.begin(write=True) as txn:
            assert txn.delete(b"store_format", db=state)
            txn.put(BLOB, BLAKE3_16_OF_DATA + DATA, db=db)
    finally:
        env.close()


def test_a_new_store_is_format_2_and_checksums_with_xxh3(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "db"
    store = Store(path, map_size=1 << 30)
    assert store.format == FORMAT_XXH3
    _put(store)
    assert store.get_sliver(0, P, BLOB) == DATA
    store.close()
    assert _stored_value(path) == XXH3_128_OF_DATA + DATA
    reopened = Store(path, map_size=1 << 30)
    try:
        assert reopened.format == FORMAT_XXH3
        assert reopened.get_state("store_format") == b"2"
        assert reopened.tamper_sliver(0, P, BLOB)
        with pytest.raises(CorruptSliverError):
            reopened.check_sliver(0, P, BLOB)
    finally:
        reopened.close()


def test_a_store_made_before_formats_keeps_its_blake3_checksums(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "db"
    _make_pre_format_store(path)
    store = Store(path, map_size=1 << 30)
    try:
        assert store.format == FORMAT_BLAKE3
        assert store.get_state("store_format") == b"1"  # recorded on its first open
        assert store.get_sliver(0, P, BLOB) == DATA  # its old checksum still verifies
        second = bytes(31) + b"\x02"
        _put(store, second)  # and new slivers get the same kind
    finally:
        store.close()
    assert _stored_value(path, second) == BLAKE3_16_OF_DATA + DATA
    store = Store(path, map_size=1 << 30)
    try:
        assert store.format == FORMAT_BLAKE3
        assert store.tamper_sliver(0, P, BLOB)
        with pytest.raises(CorruptSliverError):
            store.get_sliver(0, P, BLOB)
    finally:
        store.close()


@pytest.mark.parametrize("recorded", [b"3", b"0", b"two"])
def test_a_store_of_a_format_this_node_does_not_know_is_refused_at_open(
    tmp_path: pathlib.Path, recorded: bytes
) -> None:
    path = tmp_path / "db"
    store = Store(path, map_size=1 << 30)
    _put(store)
    store.put_state("store_format", recorded)
    store.close()
    with pytest.raises(StoreError, match="format"):
        Store(path, map_size=1 << 30)


def test_the_format_2_checksum_is_xxh3_128_and_the_format_1_one_blake3() -> None:
    """The golden checksums above, against the reference implementations: XXH3-128 of
    the empty input is xxHash's published test value."""
    assert xxhash.xxh3_128_digest(b"") == bytes.fromhex("99aa06d3014798d86001c324468d497f")
    assert xxhash.xxh3_128_digest(DATA) == XXH3_128_OF_DATA
    assert blake3.blake3(DATA).digest(length=16) == BLAKE3_16_OF_DATA
