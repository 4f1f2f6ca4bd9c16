"""The ``walrus`` command's memory on big files: a read writes the blob out as its rows
arrive (a few slivers in memory, not the blob); a store encodes the file as it reads it
and uploads views into the encoding (its encoded size plus a constant, not the file as
well). Real processes against a real testbed with many shards (small slivers)."""

from __future__ import annotations

import asyncio
import mmap
import os
import pathlib
import subprocess
import sys
from collections.abc import Iterator

import pytest

from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.codec.params import EncodingParams
from walrus_node.store import mapped
from walrus_node.testbed.testbed import Testbed

pytestmark = [pytest.mark.slow, pytest.mark.alone]

MiB = 1 << 20
SIZE = 64 * MiB
SHARDS = 40

_PEAK = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True)
sys.stderr.buffer.write(done.stderr)
sys.stdout.buffer.write(done.stdout)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, file=sys.stderr)
sys.exit(done.returncode)
"""


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    testbed = Testbed.create(tmp_path_factory.mktemp("memory") / "testbed", 4, SHARDS)
    try:
        testbed.up()
        yield testbed
    finally:
        testbed.down()


def _walrus_peak(bed: Testbed, *args: str) -> tuple[str, float]:
    """stdout of ``walrus ARGS`` and the command's peak RSS in MiB."""
    command = [sys.executable, "-m", "walrus_node.cli.client_main"]
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, *command, "--config", str(bed.client_config), *args],
        capture_output=True,
        timeout=600,
        check=False,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout, float(done.stderr.strip().splitlines()[-1])


def test_a_big_file_is_stored_as_read_and_read_row_by_row(
    bed: Testbed, tmp_path: pathlib.Path
) -> None:
    source = tmp_path / "big.bin"
    with source.open("wb") as f:
        for _ in range(SIZE // MiB):
            f.write(os.urandom(MiB))
    blob_id, store_peak = _walrus_peak(bed, "store", str(source))
    out = tmp_path / "copy.bin"
    _, read_peak = _walrus_peak(bed, "read", blob_id.strip(), "-o", str(out))
    assert out.read_bytes() == source.read_bytes()
    params = EncodingParams(SHARDS)
    sliver = SIZE / params.rows / MiB  # a primary sliver
    encoded = params.encoded_size(SIZE) / MiB
    print(f"peak RSS: store {store_peak:.0f} MiB (encoded {encoded:.0f} MiB), read {read_peak:.0f}")
    # A read holds its window of 4 slivers and the one being written, over the ~110 MiB of
    # an idle client process; a read that holds the blob needs two blobs' worth more.
    assert read_peak < 150 + 6 * sliver, read_peak
    assert read_peak < 150 + SIZE / MiB
    # A store holds the encoded size (the expanded matrix is a little less), the idle
    # process (~90 MiB) and the messages in flight; holding the file as well (mapped or
    # read whole) would add SIZE, a gathered copy of a secondary sliver per upload 4x that.
    assert store_peak < encoded + 150, store_peak


def test_a_stored_files_pages_leave_the_resident_set_once_encoded(
    bed: Testbed, tmp_path: pathlib.Path
) -> None:
    source = tmp_path / "mapped.bin"
    source.write_bytes(os.urandom(16 * MiB))

    async def go() -> int:
        with source.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            async with WalrusClient(client_config.load(bed.client_config)) as client:
                await client.store(m, epochs=1)
            return mapped.resident_bytes(source)  # the map is still open here

    resident = asyncio.run(go())
    # Encoding read every page of the map; the store dropped them afterwards (they stay
    # in the page cache), so they do not add the file's size to the upload's memory.
    assert resident < MiB, resident
