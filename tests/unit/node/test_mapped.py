"""Mapped pages of the store: what reads touch through LMDB's map counts in the process's
RSS until released, and a release drops it without changing what the store returns."""

from __future__ import annotations

import os
import pathlib
import sys

import pytest

from walrus_node.store import mapped
from walrus_node.store.store import Store

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/maps")

MiB = 1 << 20


def test_release_drops_the_pages_reads_mapped_and_keeps_the_data(tmp_path: pathlib.Path) -> None:
    store = Store(tmp_path / "db", map_size=1 << 30)
    try:
        values = {f"value-{i}": os.urandom(4 * MiB) for i in range(8)}
        for key, value in values.items():
            store.put_state(key, value)
        for key, value in values.items():
            assert store.get_state(key) == value  # read through the map
        touched = store.mapped_bytes()
        assert touched >= 24 * MiB, touched  # the reads left the pages resident

        assert store.release_mapped() >= 1
        assert store.mapped_bytes() < MiB

        for key, value in values.items():  # mapped again on the next read, same bytes
            assert store.get_state(key) == value
    finally:
        store.close()


def test_nothing_to_release_for_a_file_not_mapped(tmp_path: pathlib.Path) -> None:
    plain = tmp_path / "plain"
    plain.write_bytes(b"x" * 4096)
    assert mapped.mappings(plain) == []
    assert mapped.release(plain) == 0
    assert mapped.release(tmp_path / "missing") == 0
    assert mapped.resident_bytes(plain) == 0


def test_a_closed_store_releases_nothing(tmp_path: pathlib.Path) -> None:
    store = Store(tmp_path / "db", map_size=1 << 30)
    store.put_state("k", b"v" * MiB)
    store.close()
    assert store.release_mapped() == 0


def test_the_store_is_mapped_read_only(tmp_path: pathlib.Path) -> None:
    """LMDB writes the store with pwrite; its map only serves reads, so a stray write
    through a view of it faults instead of changing stored bytes."""
    store = Store(tmp_path / "db", map_size=1 << 30)
    try:
        store.put_state("k", b"v" * MiB)
        assert store.get_state("k") == b"v" * MiB
        data = str(tmp_path / "db" / "data.mdb")
        permissions = [
            line.split()[1]
            for line in pathlib.Path("/proc/self/maps").read_text().splitlines()
            if line.endswith(data)
        ]
        assert permissions and all("w" not in p for p in permissions), permissions
    finally:
        store.close()


def _map_flags(path: str) -> list[list[str]]:
    """The ``VmFlags`` of each of this process's mappings of ``path``."""
    flags, current = [], False
    for line in pathlib.Path("/proc/self/smaps").read_text().splitlines():
        head = line.split(maxsplit=1)[0]
        if "-" in head and not head.endswith(":"):
            current = line.endswith(path)
        elif current and head == "VmFlags:":
            flags.append(line.split()[1:])
    return flags


def test_the_store_map_reads_ahead(tmp_path: pathlib.Path) -> None:
    """A cold sliver must come from the disk in large reads: py-lmdb touches every page of
    a value it returns, and on a map marked for random access (``rr``, LMDB's
    ``MDB_NORDAHEAD``) each touch would be one 4 KiB disk request."""
    store = Store(tmp_path / "db", map_size=1 << 30)
    try:
        store.put_state("k", b"v" * MiB)
        assert store.get_state("k") == b"v" * MiB
        flags = _map_flags(str(tmp_path / "db" / "data.mdb"))
        assert flags and all("rr" not in f for f in flags), flags
    finally:
        store.close()
