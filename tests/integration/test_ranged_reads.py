"""Ranged reads against 7 real node processes: ``read_range`` moves only the symbols
covering the range (``GetSliverSymbols``), the node's limits refuse longer runs by name,
and a lying or dead row owner is caught and read around.

At 7 shards a blob has ``3 x 5`` source symbols: a 30 MiB blob has 2 MiB symbols and
10 MiB rows.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import re
import signal
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.support import gateway as gateway_mod
from tests.support.byzantine import ByzantineProxy
from walrus_node.client.api import ReadResult, WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams
from walrus_node.testbed.testbed import Testbed
from walrus_node.transport import client as transport_client

from .conftest import owners, run, wait_until
from .test_byzantine import _client_config_via

MiB = 1 << 20
PARAMS = EncodingParams(7)
SYMBOL = 2 * MiB
ROW = PARAMS.columns * SYMBOL


def _served(bed: Testbed) -> dict[str, float]:
    """Counters summed over the nodes: whole primary slivers, symbol bytes by tree, calls."""
    totals = {"slivers": 0.0, "built": 0.0, "kept": 0.0, "calls": 0.0}
    for node in bed.nodes:
        if not node.is_running():
            continue
        with urllib.request.urlopen(f"http://127.0.0.1:{node.metrics_port}/metrics") as r:
            text = r.read().decode()
        for line in text.splitlines():
            if line.startswith('walrus_slivers_served_total{sliver_type="primary"}'):
                totals["slivers"] += float(line.split()[-1])
            m = re.match(r'walrus_symbol_bytes_served_total\{tree="(\w+)"\} (\S+)', line)
            if m:
                totals[m.group(1)] += float(m.group(2))
            m = re.match(r'walrus_rpc_duration_seconds_count\{.*"GetSliverSymbols".*\} (\S+)', line)
            if m:
                totals["calls"] += float(m.group(1))
    return totals


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before}


def _store(config: pathlib.Path, data: bytes) -> BlobId:
    async def go(client: WalrusClient) -> BlobId:
        return (await client.store(data)).blob_id

    return run(go, config)


def _read_range(config: pathlib.Path, blob_id: BlobId, start: int, end: int) -> ReadResult:
    async def go(client: WalrusClient) -> ReadResult:
        return await client.read_range(blob_id, start, end)

    return run(go, config)


@pytest.fixture
def limited(tmp_path: pathlib.Path) -> Iterator[Testbed]:
    """A testbed whose nodes serve at most 2 symbols, and 3 MiB, per call."""
    bed = Testbed.create(
        tmp_path / "testbed",
        7,
        node_settings={"max_symbols_per_read": 2, "max_symbol_read_bytes": 3 * MiB},
    )
    try:
        bed.up()
        yield bed
    finally:
        bed.down()


def test_read_range_moves_only_the_covering_symbols_and_keeps_the_tree(
    testbed: Testbed,
) -> None:
    data = os.urandom(30 * MiB)
    config = testbed.client_config

    async def store(client: WalrusClient) -> tuple[BlobId, list[str]]:
        result = await client.store(data)
        return result.blob_id, result.problems

    blob_id, problems = run(store, config)
    owner = owners(testbed)[PARAMS.shard_of_pair(blob_id.raw, 0)]

    before = _served(testbed)
    start, end = 5 * MiB + 3, 6 * MiB + 3  # symbols 2 and 3 of row 0
    got = _read_range(config, blob_id, start, end)
    first = _delta(before, _served(testbed))
    assert got.data == data[start:end]
    assert not got.fell_back
    assert (first["slivers"], first["calls"]) == (0, 1)
    if not any(p.startswith(f"{owner}:") for p in problems):
        # the upload left the sliver's tree: only the two symbols are read from the store
        # (an owner the client gave up on got the sliver by blob sync, without a tree)
        assert (first["built"], first["kept"]) == (0, 2 * SYMBOL)

    # a restarted node has no trees: the first read builds one, the next uses it
    testbed.kill(owner)
    testbed.start(owner)
    before = _served(testbed)
    rebuilt = _read_range(config, blob_id, start, end)
    assert rebuilt.data == data[start:end]
    assert _delta(before, _served(testbed)) == {
        "slivers": 0,
        "built": 2 * SYMBOL,
        "kept": 0,
        "calls": 1,
    }
    before = _served(testbed)
    again = _read_range(config, blob_id, start + 1, end - 1)
    second = _delta(before, _served(testbed))
    assert again.data == data[start + 1 : end - 1]
    assert second == {"slivers": 0, "built": 0, "kept": 2 * SYMBOL, "calls": 1}

    # across a row boundary: one call per row, each for one symbol
    before = _served(testbed)
    across = _read_range(config, blob_id, ROW - 10, ROW + 10)
    assert across.data == data[ROW - 10 : ROW + 10]
    assert _delta(before, _served(testbed))["calls"] == 2

    # a whole row is fetched as its primary sliver, not as symbols
    before = _served(testbed)
    row = _read_range(config, blob_id, ROW, 2 * ROW)
    moved = _delta(before, _served(testbed))
    assert row.data == data[ROW : 2 * ROW]
    assert (moved["slivers"], moved["calls"]) == (1, 0)

    tail = _read_range(config, blob_id, len(data) - 5, len(data))
    assert tail.data == data[-5:]
    with pytest.raises(ValueError, match="not within"):
        _read_range(config, blob_id, 0, len(data) + 1)


def test_the_node_refuses_runs_beyond_its_limits_by_name(limited: Testbed) -> None:
    data = os.urandom(30 * MiB)
    blob_id = _store(limited.client_config, data)
    owner = limited.node(owners(limited)[PARAMS.shard_of_pair(blob_id.raw, 0)])

    async def ask(first: int, count: int) -> str:
        pool = transport_client.ChannelPool(credentials=limited.client_tls())
        try:
            await pool.peer(owner.endpoint, owner.name).get_sliver_symbols(
                blob_id.raw, 0, first, count
            )
        except transport_client.RpcError as e:
            return f"{e.code}: {e.details}"
        finally:
            await pool.close()
        return "served"

    assert asyncio.run(ask(0, 1)) == "served"
    refused = asyncio.run(ask(0, 3))
    assert refused.startswith("RESOURCE_EXHAUSTED") and "max_symbols_per_read is 2" in refused
    refused = asyncio.run(ask(0, 2))  # 4 MiB
    assert refused.startswith("RESOURCE_EXHAUSTED") and "max_symbol_read_bytes" in refused
    assert asyncio.run(ask(4, 2)).startswith("INVALID_ARGUMENT")  # past the 5 columns
    assert asyncio.run(ask(0, 0)).startswith("INVALID_ARGUMENT")

    # a reader asked for more is refused and takes the row's sliver instead
    before = _served(limited)
    got = _read_range(limited.client_config, blob_id, SYMBOL + 1, 3 * SYMBOL + 1)
    moved = _delta(before, _served(limited))
    assert got.data == data[SYMBOL + 1 : 3 * SYMBOL + 1]
    assert not got.fell_back
    assert moved["slivers"] == 1
    assert any("max_symbols_per_read is 2" in p for p in got.problems)


def test_a_row_owner_sending_wrong_symbols_or_proofs_is_caught(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    data = os.urandom(30 * MiB)
    blob_id = _store(testbed.client_config, data)
    shard_owner = owners(testbed)
    liars = [shard_owner[PARAMS.shard_of_pair(blob_id.raw, row)] for row in (0, 1)]
    with (
        ByzantineProxy.for_node(testbed, liars[0], corrupt_symbols=True) as p0,
        ByzantineProxy.for_node(testbed, liars[1], corrupt_symbol_proofs=True) as p1,
    ):
        config = _client_config_via(testbed, {liars[0]: p0, liars[1]: p1}, tmp_path)
        for row, proxy in ((0, p0), (1, p1)):
            start = row * ROW + SYMBOL + 7
            lies = proxy.lies
            got = _read_range(config, blob_id, start, start + MiB)
            assert got.data == data[start : start + MiB]
            assert proxy.lies > lies
            assert got.fell_back
            reported = " ".join(got.problems)
            assert f"{liars[row]}: returned a corrupt symbol" in reported
            assert "Merkle proof does not match the metadata" in reported


def test_a_range_is_read_whole_when_its_row_owner_is_down(testbed: Testbed) -> None:
    data = os.urandom(30 * MiB)
    blob_id = _store(testbed.client_config, data)
    testbed.kill(owners(testbed)[PARAMS.shard_of_pair(blob_id.raw, 2)])
    start = 2 * ROW + 3 * SYMBOL - 5
    got = _read_range(testbed.client_config, blob_id, start, start + 10)
    assert got.data == data[start : start + 10]
    assert got.fell_back


def test_rot_under_a_kept_tree_is_caught_by_the_node_and_repaired(testbed: Testbed) -> None:
    data = os.urandom(30 * MiB)
    config = testbed.client_config
    blob_id = _store(config, data)
    owner = owners(testbed)[PARAMS.shard_of_pair(blob_id.raw, 0)]
    start = 2 * SYMBOL + 100  # the tamper drill flips the sliver's middle byte: symbol 2
    assert not _read_range(config, blob_id, start, start + 10).fell_back  # tree kept
    assert testbed.corrupt(owner, blob_id.raw)[1] == "primary"

    got = _read_range(config, blob_id, start, start + 10)
    assert got.data == data[start : start + 10]
    assert got.fell_back
    assert any(owner in p and "DATA_LOSS" in p for p in got.problems)

    def served_again() -> bool:
        return not _read_range(config, blob_id, start, start + 10).fell_back

    wait_until(served_again, timeout=120, what="the node to rebuild the rotted sliver")


def test_the_gateway_answers_a_range_right_when_the_row_owner_lies(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    data = os.urandom(30 * MiB)
    blob_id = _store(testbed.client_config, data)
    liar = owners(testbed)[PARAMS.shard_of_pair(blob_id.raw, 1)]
    lies = {"corrupt_symbols": True, "corrupt_slivers": False, "corrupt_metadata": False}
    with ByzantineProxy.for_node(testbed, liar, **lies) as proxy:
        config = _client_config_via(testbed, {liar: proxy}, tmp_path)
        gw = gateway_mod.start(config, tmp_path)
        try:
            start = ROW + SYMBOL + 5
            got = gw.request(
                "GET", f"/v1/blobs/{blob_id}", headers={"Range": f"bytes={start}-{start + MiB}"}
            )
        finally:
            gw.stop()
        assert (got.status, got.body) == (206, data[start : start + MiB + 1])
        assert proxy.lies > 0, "the symbols came through the liar"


def test_a_range_is_read_whole_soon_when_its_row_owner_hangs(testbed: Testbed) -> None:
    data = os.urandom(30 * MiB)
    blob_id = _store(testbed.client_config, data)
    hung = testbed.node(owners(testbed)[PARAMS.shard_of_pair(blob_id.raw, 1)])
    start = ROW + 4 * SYMBOL + 1

    async def go(client: WalrusClient) -> tuple[bytes, bool, list[str], float]:
        blob = await client.open(blob_id)
        os.kill(hung.pid, signal.SIGSTOP)  # alive, holding its connections, answering nothing
        try:
            began = time.monotonic()
            got = b"".join([chunk async for chunk in blob.chunks(start, start + 10)])
            return got, blob.fell_back, blob.problems, time.monotonic() - began
        finally:
            os.kill(hung.pid, signal.SIGCONT)

    got, fell_back, problems, seconds = run(go, testbed.client_config)
    assert got == data[start : start + 10]
    assert fell_back
    assert any("row 1: 2097152 bytes not in after" in p for p in problems)
    assert seconds < 30, "well before the client's 60 s timeout"
