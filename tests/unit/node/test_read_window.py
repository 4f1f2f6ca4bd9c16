"""A blob stream fetches at most ``window`` rows ahead, and no more than fit in
``window_bytes``: big rows (big blobs on few shards) are fetched one at a time, so a read
holds a bounded number of bytes, not a number of rows that may be the whole blob."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest

from walrus_node.client import stream
from walrus_node.codec import encoder

N_SHARDS = 16


def _max_in_flight(data: bytes, window: int, window_bytes: int) -> tuple[int, bytes]:
    encoded = encoder.encode(data, N_SHARDS)
    rows = encoded.pair  # the systematic primary slivers are the rows
    in_flight, most = 0, 0
    none: Any = None
    blob = stream.BlobStream(
        encoded.blob_id,
        encoded.metadata,
        none,
        none,
        none,
        window=window,
        window_bytes=window_bytes,
    )

    async def row(index: int) -> bytes:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return bytes(rows(index)[0])

    blob._row = row  # type: ignore[method-assign]  # the network part, replaced

    async def go() -> bytes:
        return b"".join([chunk async for chunk in blob.chunks()])

    out = asyncio.run(asyncio.wait_for(go(), 30))
    return most, out


@pytest.mark.parametrize(("rows_in_budget", "expected"), [(0, 1), (1, 1), (2, 2), (3, 3), (100, 4)])
def test_rows_in_flight_are_bounded_by_bytes(rows_in_budget: int, expected: int) -> None:
    data = os.urandom(200_000)
    encoded = encoder.encode(data, N_SHARDS)
    row_bytes = encoded.metadata.params.columns * encoded.metadata.symbol_size
    most, out = _max_in_flight(data, 4, rows_in_budget * row_bytes)
    assert out == data
    assert most == expected
