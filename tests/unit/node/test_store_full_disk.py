"""A full volume: the store refuses writes cleanly instead of the node dying of SIGBUS.

The store writes through a shared map of a sparse file; a page first written there on a
full volume is a SIGBUS. These tests fill a small tmpfs (mounted here; root only) from a
child process and look at how it ended.
"""

from __future__ import annotations

import contextlib
import pathlib
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

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
    deletions and small writes still go through."""
    with _small_volume(tmp_path / "volume", "40m") as volume:
        done = _fill(volume, "guarded")
    assert done.returncode == 0, done.stderr
    refused, ok = done.stdout.splitlines()
    assert refused.startswith("refused ")
    assert int(refused.split()[1]) >= 5  # most of the volume was used
    assert "no room" in refused
    assert ok == "ok"


def test_without_the_reservation_a_full_volume_is_a_sigbus(tmp_path: pathlib.Path) -> None:
    """The control: with the reservation switched off, the same writes kill the process
    with SIGBUS (what the guard is for)."""
    with _small_volume(tmp_path / "volume", "40m") as volume:
        done = _fill(volume, "unguarded")
    assert done.returncode == -signal.SIGBUS, (done.returncode, done.stdout, done.stderr)
