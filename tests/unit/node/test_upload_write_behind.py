"""An upload writes its verified slivers behind the stream: the next sliver is read and
verified while the store writes the ones before, and nothing is answered until every
write is durable; a failed write fails the upload and gives back what it reserved."""

from __future__ import annotations

import asyncio
import dataclasses
import pathlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from tests.support import node_context
from walrus_node.codec import encoder
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import SliverType
from walrus_node.config import NodeConfig
from walrus_node.protocol import errors
from walrus_node.service import upload as upload_mod
from walrus_node.service.context import NodeContext
from walrus_node.store.store import BlobUnavailableError

BLOB = bytes(range(256)) * 64


class Checks:
    def __init__(self, metadata: BlobMetadata) -> None:
        self.metadata = metadata

    async def check_sliver_headers(
        self, blob_id: bytes, headers: Sequence[tuple[SliverType, int, int]], *args: object
    ) -> list[int]:
        params = self.metadata.params
        return [params.shard_of_pair(blob_id, params.pair_of(t, i)) for t, i, _ in headers]

    async def require_metadata(self, blob_id: bytes) -> BlobMetadata:
        return self.metadata


class Gate:
    """Holds the store's writes until opened (a real store behind it)."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.error: Exception | None = None

    def wrap(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def gated(*args: object) -> Any:
            self.entered.set()
            if not self.open.wait(timeout=60):
                raise AssertionError("the gate was never opened")
            if self.error is not None:
                raise self.error
            return fn(*args)

        return gated


@pytest.fixture
def ctx(tmp_path: pathlib.Path) -> Iterator[NodeContext]:
    # every sliver is written as soon as it is verified
    context = node_context.local_context(tmp_path, 7, 7, request_buffer_bytes=1)
    try:
        yield context
    finally:
        node_context.close(context)


def _slivers(ctx: NodeContext, encoded: encoder.EncodedBlob) -> list[tuple[SliverType, int]]:
    blob_id = encoded.blob_id.raw
    out = []
    for shard in ctx.my_shards():
        primary, secondary = ctx.slivers_for_shard(blob_id, shard)
        out += [(SliverType.PRIMARY, primary), (SliverType.SECONDARY, secondary)]
    return out


async def _upload(ctx: NodeContext, gate: Gate) -> tuple[upload_mod.Upload, list[Any]]:
    encoded = encoder.encode(BLOB, 7)
    blob_id = encoded.blob_id.raw
    pending = upload_mod.PendingMetadata(encoded.metadata, encoded.metadata.to_bytes(), 0)
    up = upload_mod.Upload(ctx, blob_id, Checks(encoded.metadata), pending)
    slivers = [(t, i, bytes(encoded.sliver(t, i))) for t, i in _slivers(ctx, encoded)]
    ctx.store.put_blob = gate.wrap(ctx.store.put_blob)  # type: ignore[method-assign]
    ctx.store.put_slivers = gate.wrap(ctx.store.put_slivers)  # type: ignore[method-assign]
    return up, slivers


def test_slivers_are_read_on_while_the_ones_before_are_written(ctx: NodeContext) -> None:
    async def go() -> None:
        gate = Gate()
        up, slivers = await _upload(ctx, gate)
        try:
            for sliver_type, index, data in slivers:
                await up.admit(sliver_type, index, len(data))
                # returns although the store holds every write: the write is behind
                await asyncio.wait_for(up.add(sliver_type, index, data), timeout=30)
            assert await asyncio.to_thread(gate.entered.wait, 30)
            finish = asyncio.ensure_future(up.finish())
            await asyncio.sleep(0)
            assert not finish.done()  # nothing answered before the writes are durable
            assert ctx.memory.used == sum(len(d) for *_, d in slivers)  # still reserved
            gate.open.set()
            new, held, expected = await asyncio.wait_for(finish, timeout=30)
            assert (new, held, expected) == (len(slivers), len(slivers), len(slivers))
            assert ctx.memory.used == 0  # given back once durable
        finally:
            gate.open.set()
            await up.close()

    asyncio.run(go())


def test_a_failed_write_fails_the_upload_and_gives_back_its_reservation(
    ctx: NodeContext,
) -> None:
    async def go() -> None:
        gate = Gate()
        gate.error = BlobUnavailableError(bytes(32))
        up, slivers = await _upload(ctx, gate)
        gate.open.set()
        with pytest.raises(errors.FailedPrecondition):
            try:
                for sliver_type, index, data in slivers:
                    await up.admit(sliver_type, index, len(data))
                    await up.add(sliver_type, index, data)
                await up.finish()
            finally:
                await up.close()
        assert ctx.memory.used == 0
        assert ctx.uncertified.used == 0

    asyncio.run(go())


def test_the_default_buffer_writes_a_64_mib_blobs_first_sliver_behind() -> None:
    """A 64 MiB blob on 7 shards: a 22 MB primary sliver, then a 13 MB secondary one;
    the buffer is below the first, so its write starts while the second arrives."""
    fields = {f.name: f for f in dataclasses.fields(NodeConfig)}
    default = fields["request_buffer_bytes"].default
    assert isinstance(default, int) and default < (64 << 20) // 3


def test_a_close_cancelled_while_writes_are_under_way_still_gives_everything_back(
    ctx: NodeContext,
) -> None:
    async def go() -> None:
        gate = Gate()
        up, slivers = await _upload(ctx, gate)
        for sliver_type, index, data in slivers:
            await up.admit(sliver_type, index, len(data))
            await up.add(sliver_type, index, data)
        assert ctx.memory.used > 0
        closing = asyncio.ensure_future(up.close())
        assert await asyncio.to_thread(gate.entered.wait, 30)
        closing.cancel()
        with pytest.raises(asyncio.CancelledError):
            await closing
        gate.open.set()
        deadline = asyncio.get_running_loop().time() + 30
        while ctx.memory.used and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.01)
        assert ctx.memory.used == 0

    asyncio.run(go())
