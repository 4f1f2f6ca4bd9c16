"""store-reads: reading slivers back from a node's store, from memory and from the disk.

    walrus-bench store-reads --size 2MiB --count 16 --rounds 3 --dir /var/tmp

The node's real store (:class:`walrus_node.store.store.Store`, in a new folder under
``--dir``) holds ``--count`` slivers of ``--size`` bytes, one blob each. Each round reads
every sliver with :meth:`Store.get_sliver` (its checksum checked) twice: *warm*, with the
store file in the page cache, and *cold*, after the file's pages were dropped from the
page cache (``posix_fadvise(DONTNEED)``; a node's old blobs, or any blob after a restart
or under memory pressure). Two readings of the same file in the same round are the
baselines for the cold one: *file*, the whole file in 1 MiB ``pread`` calls (what the
disk gives to sequential reads), and *paged*, the whole file touched a byte per page
through a map without readahead (``MADV_RANDOM``), which is how LMDB reads when opened
without readahead: one disk request per 4 KiB page.

Prints, per reading, the median over the rounds of MB/s and of the disk's read requests
(from ``/sys/dev/block``; none when ``--dir`` is not on a block device, and then *cold*
means nothing); the last line is JSON with ``warm_MBps``, ``cold_MBps``, ``file_MBps``,
``paged_MBps`` and the request counts. Run it on the disk a node would use: on tmpfs
every read is warm.
"""

from __future__ import annotations

import argparse
import mmap
import os
import pathlib
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable

from walrus_node.bench import measure
from walrus_node.codec.params import SliverType
from walrus_node.store.store import BlobInfo, BlobState, Store

__all__ = ["add_arguments", "run"]

_CHUNK = 1 << 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--size", type=measure.parse_size, default=2 << 20, help="bytes per sliver (e.g. 256KiB)"
    )
    parser.add_argument("--count", type=int, default=16, help="slivers stored")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the four readings")
    parser.add_argument(
        "--dir",
        type=pathlib.Path,
        default=pathlib.Path(tempfile.gettempdir()),
        help="folder on the disk to measure (a temporary store is made in it and removed)",
    )


def _disk_requests(path: pathlib.Path) -> Callable[[], int | None]:
    """A reader of the read requests completed so far by the block device holding
    ``path`` (None if it is not on one)."""
    dev = os.stat(path).st_dev
    stat = pathlib.Path(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}/stat")

    def read() -> int | None:
        try:
            return int(stat.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    return read


def _drop(store: Store, data_file: pathlib.Path) -> None:
    """Every page of the store's file out of the page cache (the process's own mappings
    first: the kernel keeps a page that is mapped)."""
    store.release_mapped()
    measure.drop_page_cache(data_file)


def _read_file(data_file: pathlib.Path) -> int:
    fd = os.open(data_file, os.O_RDONLY | os.O_CLOEXEC)
    buffer = bytearray(_CHUNK)
    total, offset = 0, 0
    try:
        while got := os.preadv(fd, [buffer], offset):
            total += got
            offset += got
    finally:
        os.close(fd)
    return total


def _touch_pages(data_file: pathlib.Path) -> int:
    size = data_file.stat().st_size
    with open(data_file, "rb") as f, mmap.mmap(f.fileno(), size, prot=mmap.PROT_READ) as m:
        m.madvise(mmap.MADV_RANDOM)
        seen = 0
        for offset in range(0, size, mmap.PAGESIZE):
            seen ^= m[offset]
    return size


def run(args: argparse.Namespace) -> int:
    size = args.size
    if size <= 0 or args.count <= 0 or args.rounds <= 0:
        print("walrus-bench store-reads: --size, --count and --rounds must be positive")
        return 2
    print(measure.machine_line(measure.machine()))
    directory = pathlib.Path(tempfile.mkdtemp(prefix="walrus-bench-store-", dir=args.dir))
    try:
        store = Store(directory)
        data_file = directory / "data.mdb"
        requests = _disk_requests(directory)
        blob_ids = [os.urandom(32) for _ in range(args.count)]
        for blob_id in blob_ids:
            sliver = (0, SliverType.PRIMARY, blob_id, os.urandom(size))
            store.put_blob(blob_id, b"m", BlobInfo(BlobState.REGISTERED, 0), [sliver])

        def slivers() -> int:
            got = 0
            for blob_id in blob_ids:
                data = store.get_sliver(0, SliverType.PRIMARY, blob_id)
                assert data is not None and len(data) == size
                got += len(data)
            return got

        readings: dict[str, Callable[[], int]] = {
            "warm": slivers,
            "cold": slivers,
            "file": lambda: _read_file(data_file),
            "paged": lambda: _touch_pages(data_file),
        }
        figures: dict[str, list[float]] = {name: [] for name in readings}
        counts: dict[str, list[int]] = {name: [] for name in readings}
        try:
            for _ in range(args.rounds):
                slivers()  # the warm reading finds the file in the page cache
                for name, read in readings.items():
                    if name != "warm":
                        _drop(store, data_file)
                    before = requests()
                    start = time.perf_counter()
                    nbytes = read()
                    seconds = time.perf_counter() - start
                    after = requests()
                    figures[name].append(measure.mbps(nbytes, seconds))
                    if before is not None and after is not None:
                        counts[name].append(after - before)
        finally:
            store.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)

    print(
        f"{args.count} slivers of {size} bytes, {args.rounds} rounds, "
        f"load {measure.load_average():.2f}"
    )
    result: dict[str, object] = {"benchmark": "store-reads", "size": size, "count": args.count}
    for name in readings:
        mbps = statistics.median(figures[name])
        disk = int(statistics.median(counts[name])) if counts[name] else None
        requests_text = f"{disk} disk read requests" if disk is not None else "not on a disk"
        print(f"  {name:>5}: {mbps:9.1f} MB/s  {requests_text}")
        result[f"{name}_MBps"] = round(mbps, 1)
        result[f"{name}_requests"] = disk
    measure.emit_json(result)
    return 0
