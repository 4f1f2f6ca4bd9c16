"""Encoding a file holds its encoded size, not the file as well: a real process encodes a
256 MiB file and its peak RSS stays within the expanded matrix plus a small constant."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

from walrus_node.codec.params import EncodingParams

pytestmark = [pytest.mark.slow, pytest.mark.alone]

MiB = 1 << 20
SIZE = 256 * MiB
SHARDS = 10
SLACK = 32 * MiB
"""Beyond the process after its imports and the matrix: the leaf hashes, the metadata, the
allocator's rounding. The file itself (256 MiB, mapped or read whole) would not fit."""

_ENCODE = """
import json, sys
from walrus_node.client import blob_file
def high_water():  # this process's own peak (ru_maxrss would include its parent's at fork)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
idle = high_water()
encoded = blob_file.encode_file(sys.argv[1], int(sys.argv[2]))
peak = high_water()
print(json.dumps({"idle": idle, "peak": peak, "blob_id": str(encoded.blob_id)}))
"""


def test_encoding_a_file_holds_the_matrix_and_not_the_file(tmp_path: pathlib.Path) -> None:
    path = tmp_path / "big.bin"
    with path.open("wb") as f:
        for i in range(SIZE // MiB):
            f.write(bytes([i % 251]) * MiB)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _ENCODE, str(path), str(SHARDS)],
            capture_output=True,
            timeout=600,
            check=True,
            text=True,
        )
    finally:
        path.unlink()
    figures = json.loads(done.stdout)
    params = EncodingParams(SHARDS)
    matrix = SHARDS * SHARDS * params.symbol_size(SIZE)
    over = figures["peak"] - figures["idle"] - matrix
    print(
        f"peak {figures['peak'] / MiB:.0f} MiB = idle {figures['idle'] / MiB:.0f} MiB "
        f"+ matrix {matrix / MiB:.0f} MiB + {over / MiB:.1f} MiB "
        f"(encoded size {params.encoded_size(SIZE) / MiB:.0f} MiB)"
    )
    assert over <= SLACK, over / MiB
    assert figures["peak"] - figures["idle"] <= params.encoded_size(SIZE) + SLACK
