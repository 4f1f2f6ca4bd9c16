"""A full volume: the store refuses the writes that do not fit, with nothing written,
instead of failing the commit they share with others.

These tests fill a small tmpfs (mounted here; root only) from a child process and look
at how it ended.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator

import pytest

from walrus_node.store import disk_room

_FILL = """
import sys
from walrus_node.codec.params import SliverType
from walrus_node.store import disk_room
from walrus_node.store.store import BlobInfo, BlobState, Store, StoreFullError

if sys.argv[2] == "unguarded":
    disk_room.DiskRoom.reserve = lambda self, data_end, size: None
store = Store(sys.argv[1], map_size=1 << 30, disk_reserve=1 << 20)
sliver = b"s" * (4 << 20)
stored = []
for i in range(64):
    blob_id = i.to_bytes(32, "big")
    try:
        store.put_metadata(blob_id, b"meta", BlobInfo(BlobState.REGISTERED, 1))
        store.put_slivers([(0, SliverType.PRIMARY, blob_id, sliver)])
    except StoreFullError as e:
        print("refused", len(stored), e, flush=True)
        break
    stored.append(blob_id)
else:
    sys.exit("never refused")
assert all(store.get_sliver(0, SliverType.PRIMARY, b) == sliver for b in stored)
# Deletions and small writes declare no bytes: they go through on the full volume.
for b in stored[:3]:
    store.delete_sliver(0, SliverType.PRIMARY, b)
    store.put_state("deleted/" + b.hex(), b"1")
assert store.get_sliver(0, SliverType.PRIMARY, stored[0]) is None
assert store.get_state("deleted/" + stored[0].hex()) == b"1"
store.close()
# Opened again on the full volume, it serves what it holds and refuses new data.
store = Store(sys.argv[1], map_size=1 << 30, disk_reserve=64 << 20)
assert store.get_sliver(0, SliverType.PRIMARY, stored[-1]) == sliver
try:
    store.put_slivers([(0, SliverType.PRIMARY, stored[0], sliver)])
    sys.exit("a write was not refused after reopening")
except StoreFullError:
    pass
store.close()
print("ok", flush=True)
"""


@contextlib.contextmanager
def _small_volume(path: pathlib.Path, size: str) -> Iterator[pathlib.Path]:
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def _fill(volume: pathlib.Path, mode: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _FILL, str(volume / "db"), mode],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_a_full_volume_refuses_writes_and_the_node_lives_on(tmp_path: pathlib.Path) -> None:
    """On a 40 MiB volume, 4 MiB slivers are stored until one is refused with
    StoreFullError; the process keeps running, everything stored reads back, and
    deletions and small writes still go through. Opened again on the full volume, the
    store serves what it holds and refuses new data."""
    with _small_volume(tmp_path / "volume", "40m") as volume:
        done = _fill(volume, "guarded")
    assert done.returncode == 0, done.stderr
    refused, ok = done.stdout.splitlines()
    assert refused.startswith("refused ")
    assert int(refused.split()[1]) >= 5  # most of the volume was used
    assert "no room" in refused
    assert ok == "ok"


def test_without_the_reservation_a_full_volume_fails_the_commit(tmp_path: pathlib.Path) -> None:
    """The control: with the reservation switched off, the write that does not fit is no
    refusal: LMDB's commit fails half-written (every write of its group with it), which
    is what the guard is for."""
    with _small_volume(tmp_path / "volume", "40m") as volume:
        done = _fill(volume, "unguarded")
    assert done.returncode == 1, (done.returncode, done.stdout, done.stderr)
    assert "refused" not in done.stdout
    assert "CommitError: the store could not commit" in done.stderr


def test_reservations_allocate_blocks_past_the_data_and_refuse_what_does_not_fit(
    tmp_path: pathlib.Path,
) -> None:
    """A reservation allocates the file's blocks past its end (its disk usage grows by
    the writes' bytes plus the reserve, its size is left to LMDB's writes); more than the
    volume holds is NoRoomError. Where fallocate is not supported, the volume's free
    space is checked instead."""
    path = tmp_path / "data"
    path.write_bytes(b"m" * 8192)  # LMDB's two meta pages
    room = disk_room.DiskRoom(path, 1 << 40, reserve=1 << 20)
    try:
        room.reserve(8192, 4 << 20)
        allocated = path.stat().st_blocks * 512
        assert allocated >= (5 << 20) + 8192
        assert path.stat().st_size == 8192
        free = shutil.disk_usage(tmp_path).free
        with pytest.raises(disk_room.NoRoomError, match="no room"):
            room.reserve(8 << 20, free + (1 << 30))  # refused before allocating anything
        assert path.stat().st_blocks * 512 == allocated
        room._supported = False  # where fallocate is missing: the free-space check alone
        room.reserve(8 << 20, 1 << 20)
        assert path.stat().st_blocks * 512 == allocated
        with pytest.raises(disk_room.NoRoomError, match="bytes free"):
            room.reserve(8 << 20, free + (1 << 30))
    finally:
        room.close()


def test_a_failed_reservation_gives_back_what_it_allocated(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ext4 keeps the blocks of a fallocate that ran out of room; the store punches them
    out again, so a refusal does not leave the volume full. (The free-space check is made
    to pass here, as when a concurrent writer takes the room between it and fallocate.)"""
    image, mount = tmp_path / "ext4.img", tmp_path / "volume"
    with image.open("wb") as f:
        f.truncate(64 << 20)
    made = subprocess.run(["mkfs.ext4", "-q", str(image)], capture_output=True, check=False)
    if made.returncode != 0:
        pytest.skip(f"cannot make an ext4 image here: {made.stderr.decode().strip()}")
    mount.mkdir()
    mounted = subprocess.run(
        ["mount", "-o", "loop", str(image), str(mount)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a loop device here: {mounted.stderr.decode().strip()}")
    try:
        path = mount / "data"
        with path.open("wb") as f:
            f.truncate(1 << 40)
        free = shutil.disk_usage(mount).free
        room = disk_room.DiskRoom(path, 1 << 40, reserve=1 << 20)
        real = os.fstatvfs

        def roomy(fd: int) -> os.statvfs_result:
            st = real(fd)
            fields = list(st)
            fields[4] = fields[3] = 1 << 40  # f_bfree, f_bavail: plenty
            return os.statvfs_result(fields)

        monkeypatch.setattr(os, "fstatvfs", roomy)
        try:
            with pytest.raises(disk_room.NoRoomError, match="no room"):
                room.reserve(0, 200 << 20)
        finally:
            room.close()
        assert path.stat().st_blocks == 0
        assert shutil.disk_usage(mount).free >= free - (1 << 20)
    finally:
        subprocess.run(["umount", str(mount)], check=False)
