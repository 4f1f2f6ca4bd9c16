"""A blob stream fetches at most ``window`` rows ahead, and no more than fit in
``window_bytes``: big rows (big blobs on few shards) are fetched one at a time, so a read
holds a bounded number of bytes, not a number of rows that may be the whole blob. Small
rows (many shards) are fetched ``ahead_bytes`` at a time, the rows of one node in one
call; a row its node's call does not bring is asked of its other owners."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import io
import os
from collections.abc import AsyncIterator, Iterable
from typing import Any

import pytest

from walrus_node.client import api, stream
from walrus_node.codec import encoder
from walrus_node.protocol.errors import PeerError

N_SHARDS = 16


@dataclasses.dataclass(frozen=True)
class Node:
    name: str


NODES = [Node(f"node-{i}") for i in range(4)]


def _owner(row: int) -> Node:
    """Runs of nine consecutive rows on one node (shards are assigned in runs)."""
    return NODES[row // 9 % 4]


class Network:
    """Nodes answering rows of an encoded blob: ``down`` ones fail their calls after the
    first row; counts the rows asked for and not yet given."""

    def __init__(
        self,
        encoded: encoder.EncodedBlob,
        down: frozenset[str] = frozenset(),
        liars: frozenset[str] = frozenset(),
    ):
        self.encoded, self.down, self.liars = encoded, down, liars
        self.calls: list[tuple[str, list[int]]] = []
        self.single: list[tuple[str, int]] = []
        self.in_flight = 0
        self.most = 0

    async def ask(self, member: Node, rows: list[int]) -> AsyncIterator[tuple[int, bytes]]:
        self.calls.append((member.name, list(rows)))
        self.in_flight += len(rows)
        self.most = max(self.most, self.in_flight)
        given = 0
        try:
            for row in rows:
                await asyncio.sleep(0.001)
                if member.name in self.down and given:
                    raise PeerError(f"{member.name} went down")
                data = bytearray(self.encoded.primary(row))
                if member.name in self.liars and given:
                    data[-1] ^= 1  # from its second row on
                given += 1
                self.in_flight -= 1
                yield row, bytes(data)
        finally:
            self.in_flight -= len(rows) - given

    def peer(self, member: Node) -> Any:
        network = self

        class Client:
            async def get_sliver(self, blob_id: bytes, sliver_type: Any, row: int) -> bytes:
                network.single.append((member.name, row))
                network.in_flight += 1
                network.most = max(network.most, network.in_flight)
                try:
                    await asyncio.sleep(0.001)
                    if member.name in network.down:
                        raise PeerError(f"{member.name} is down")
                    return bytes(network.encoded.primary(row))
                finally:
                    network.in_flight -= 1

        return Client()


def _stream(network: Network, **kwargs: Any) -> stream.BlobStream:
    encoded = network.encoded
    none: Any = None
    blob = stream.BlobStream(
        encoded.blob_id, encoded.metadata, none, network.peer, none, network.ask, **kwargs
    )
    blob._owners = lambda row: [_owner(row), _owner(row + 9)]  # type: ignore[method-assign,assignment,return-value]
    return blob


def _read(blob: stream.BlobStream) -> bytes:
    async def go() -> bytes:
        return b"".join([chunk async for chunk in blob.chunks()])

    return asyncio.run(asyncio.wait_for(go(), 30))


@pytest.mark.parametrize(("rows_in_budget", "expected"), [(0, 1), (1, 1), (2, 2), (3, 3), (100, 4)])
def test_rows_in_flight_are_bounded_by_bytes(rows_in_budget: int, expected: int) -> None:
    data = os.urandom(200_000)
    network = Network(encoder.encode(data, N_SHARDS))
    params = network.encoded.metadata.params
    row_bytes = params.columns * network.encoded.metadata.symbol_size
    blob = _stream(network, window=4, window_bytes=rows_in_budget * row_bytes, ahead_bytes=0)
    assert _read(blob) == data
    assert network.most == expected


def test_small_rows_are_asked_for_together_one_call_per_node() -> None:
    data = os.urandom(200_000)
    network = Network(encoder.encode(data, 100))  # 34 rows of ~6 kB
    rows = network.encoded.metadata.params.rows
    assert _read(_stream(network, window=2)) == data
    assert len(network.calls) == 4 and not network.single  # all at once, a call per node
    assert sorted(r for _, asked in network.calls for r in asked) == list(range(rows))
    for name, asked in network.calls:
        assert all(_owner(r).name == name for r in asked)


def test_more_rows_are_asked_for_once_half_of_those_ahead_are_taken() -> None:
    data = os.urandom(200_000)
    network = Network(encoder.encode(data, 100))
    params, s = network.encoded.metadata.params, network.encoded.metadata.symbol_size
    blob = _stream(network, window=2, ahead_bytes=8 * params.columns * s)  # 8 rows ahead
    assert _read(blob) == data
    assert network.most <= 8
    # 8 rows first, then 4 each time half were taken (a call per node: 2 at most, rows
    # running in nines); a row alone on its node asked for by itself
    asked = sorted([r for _, rows in network.calls for r in rows] + [r for _, r in network.single])
    assert asked == list(range(params.rows))
    assert len(network.calls) + len(network.single) <= 2 * 8


def test_rows_a_node_fails_to_give_are_asked_of_their_other_owners() -> None:
    data = os.urandom(200_000)
    network = Network(encoder.encode(data, 100), down=frozenset({"node-1"}))
    blob = _stream(network, window=2)
    assert _read(blob) == data
    (asked,) = [rows for name, rows in network.calls if name == "node-1"]
    assert asked == list(range(9, 18))
    # node-1 gave its first row, then failed: the rest came from node-2, one by one
    assert network.single == [("node-2", row) for row in asked[1:]]
    assert any("went down" in problem for problem in blob.problems)


def test_a_corrupt_row_is_asked_of_its_other_owner_with_the_rows_after_it() -> None:
    data = os.urandom(200_000)
    network = Network(encoder.encode(data, 100), liars=frozenset({"node-1"}))
    blob = _stream(network, window=2)
    assert _read(blob) == data
    (asked,) = [rows for name, rows in network.calls if name == "node-1"]
    # its first row counts; the corrupt second and those after it come from node-2
    assert network.single == [("node-2", row) for row in asked[1:]]
    assert any(f"corrupt sliver: invalid primary sliver {asked[1]}" in p for p in blob.problems)


def test_a_consumer_that_stops_leaves_no_call_behind() -> None:
    data = os.urandom(200_000)
    network = Network(encoder.encode(data, 100))
    blob = _stream(network, window=2)

    async def go() -> None:
        chunks = blob.chunks()
        async with asyncio.timeout(30):
            await anext(chunks)
        await chunks.aclose()
        assert not blob._calls
        assert network.in_flight == 0
        others = asyncio.all_tasks() - {asyncio.current_task()}
        assert not others

    asyncio.run(go())


class _Writes(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[int] = []

    def writelines(self, lines: Iterable[Any]) -> None:
        lines = list(lines)
        self.writes.append(sum(len(line) for line in lines))
        super().writelines(lines)


@pytest.mark.parametrize("write_bytes", [1, 50_000, 1 << 20])
def test_a_read_to_a_file_writes_small_rows_together(
    monkeypatch: pytest.MonkeyPatch, write_bytes: int
) -> None:
    data = os.urandom(200_000)
    network = Network(encoder.encode(data, 100))  # 34 rows of ~6 kB
    row = network.encoded.metadata.params.columns * network.encoded.metadata.symbol_size
    monkeypatch.setattr(api, "WRITE_BYTES", write_bytes)
    client: Any = api.WalrusClient.__new__(api.WalrusClient)

    async def open_(blob_id: Any, *, window: int) -> stream.BlobStream:
        return _stream(network, window=window)

    client.open = open_
    out, progress = _Writes(), []
    result = asyncio.run(client.read_into(None, out, progress=progress.append))
    assert out.getvalue() == data and result.timings["bytes"] == len(data)
    assert progress == out.writes
    # each write but the last is at least WRITE_BYTES (one row when a row is more)
    assert all(w >= write_bytes for w in out.writes[:-1])
    assert all(w < write_bytes + row for w in out.writes)
    if write_bytes == 1:  # every row written as it comes
        assert len(out.writes) == network.encoded.metadata.params.rows
    if write_bytes == 1 << 20:  # the whole blob in one write
        assert len(out.writes) == 1


def test_a_fault_in_a_call_reaches_the_reader_and_leaves_no_failed_task() -> None:
    """An error other than a node's failure (a fault in the client) is raised to the
    reader, not taken for a node's failure, and no call task is left failed with no
    one to look at its error."""
    data = os.urandom(200_000)
    network = Network(encoder.encode(data, 100))
    asked = network.ask

    async def faulty(member: Node, rows: list[int]) -> AsyncIterator[tuple[int, bytes]]:
        if member.name == "node-1":
            raise RuntimeError("a fault")
        async for item in asked(member, rows):
            yield item

    network.ask = faulty  # type: ignore[method-assign]
    blob = _stream(network, window=2)
    unhandled: list[dict[str, Any]] = []

    async def go() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, c: unhandled.append(c))
        with pytest.raises(RuntimeError, match="a fault"):
            async with asyncio.timeout(30):
                async for _ in blob.chunks():
                    pass
        await asyncio.sleep(0)
        gc.collect()  # a failed task nobody awaited reports itself when collected

    asyncio.run(go())
    assert not network.single  # the rows were not asked of their other owners
    assert unhandled == []
