"""Many concurrent reads of one big sliver, against a real node process: the node's
memory must not grow with the number of readers times the sliver's size.

One node owning all four shards holds a certified 48 MiB blob (its primary slivers are
24 MiB). Sixteen readers each open a ``GetSliver`` stream of the same sliver (or a
``GetRecoverySymbols`` stream), take its first messages and stop reading, so every
request is in flight at once. A node that holds a whole sliver per request (what
``GetSliver`` did before it streamed from the store) has 16 x 24 MiB of private memory
at that moment; a streaming node holds a couple of ``read_buffer_bytes`` per request.
The same sixteen reads are also run to the end, all at once.

Measured: the node's anonymous resident memory (``RssAnon``: the pages of the store's
memory map that readers touch are file pages, shared by all readers and reclaimable, so
they are not what grows with readers), its peak resident set (reset before each
measurement), and what the requests reserved in its memory budget (a metrics gauge).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Iterator

import blake3
import grpc
import pytest

from tests.support.attacks import MiB, anon_rss_mib, node_gauge, peak_rss_mib, reset_peak_rss
from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.testbed.testbed import Testbed
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

pytestmark = pytest.mark.alone

BLOB = 48 * MiB
READERS = 16


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Testbed, bytes, bytes]]:
    testbed = Testbed.create(tmp_path_factory.mktemp("reads") / "testbed", 1, 4)
    try:
        testbed.up()

        async def store() -> tuple[bytes, bytes]:
            async with WalrusClient(client_config.load(testbed.client_config)) as client:
                data = os.urandom(BLOB)
                result = await client.store(data)
                assert result.certified_by == 1
                return result.blob_id.raw, blake3.blake3(data).digest()

        blob_id, digest = asyncio.run(store())
        # A fresh process: what the upload left in the allocator is not there to hide
        # what the reads allocate.
        testbed.kill("node-0")
        testbed.start("node-0")
        yield testbed, blob_id, digest
    finally:
        testbed.down()


def _stalled_reads(
    bed: Testbed, open_stream: object, count: int, messages: int
) -> tuple[list[grpc.Channel], list[Iterator[object]]]:
    """Open ``count`` streams (one channel each, so no connection window is shared) and
    take ``messages`` messages from each: every request is then in flight."""
    channels: list[grpc.Channel] = []
    streams: list[Iterator[object]] = []
    for _ in range(count):
        channel = bed.channel("node-0")
        channels.append(channel)
        stream = open_stream(pb_grpc.StorageNodeStub(channel))  # type: ignore[operator]
        for _ in range(messages):
            next(stream)
        streams.append(stream)
    return channels, streams


def _close(channels: list[grpc.Channel], streams: list[Iterator[object]]) -> None:
    for stream in streams:
        with contextlib.suppress(Exception):
            stream.cancel()  # type: ignore[attr-defined]
    for channel in channels:
        channel.close()


def _settled_anon_rss(pid: int) -> float:
    """RssAnon once the idle node stops changing (a restarted node warms up first)."""
    last = anon_rss_mib(pid)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = anon_rss_mib(pid)
        if abs(now - last) < 1:
            return now
        last = now
    return last


def test_concurrent_reads_of_a_big_sliver_do_not_hold_it_per_request(
    bed: tuple[Testbed, bytes, bytes],
) -> None:
    testbed, blob_id, _ = bed
    pid = testbed.node("node-0").pid
    sliver = EncodingParams(4).symbols_in(SliverType.PRIMARY) * (
        BLOB // EncodingParams(4).source_symbols
    )
    assert sliver >= 24 * MiB - 64
    request = pb.GetSliverRequest(blob_id=blob_id, type=pb.SLIVER_TYPE_PRIMARY, index=0)
    before = _settled_anon_rss(pid)
    channels, streams = _stalled_reads(
        testbed, lambda stub: stub.GetSliver(request, timeout=120), READERS, messages=2
    )
    try:
        during = anon_rss_mib(pid)
        reserved = node_gauge(
            testbed.node("node-0").metrics_port, "walrus_memory_budget_used_bytes"
        )
    finally:
        _close(channels, streams)
    # What the requests reserve in the node's memory budget: two 1 MiB pieces each while
    # in flight (a stream whose last bytes gRPC already took has ended and released
    # them); holding the sliver per request reserved 24 MiB each.
    assert 0 < reserved <= READERS * 2 * MiB, reserved
    growth = during - before
    print(
        f"RssAnon growth with {READERS} stalled reads of a {sliver / MiB:.0f} MiB sliver: "
        f"{growth:.0f} MiB"
    )
    # Holding the sliver per request: >= 16 x 24 = 384 MiB. Streaming: two 1 MiB pieces
    # per request plus what gRPC buffers per stream (its flow-control window).
    assert growth < READERS * sliver / MiB / 4, f"RssAnon grew by {growth:.0f} MiB"


def test_concurrent_complete_reads_of_a_big_sliver_keep_the_peak_low(
    bed: tuple[Testbed, bytes, bytes],
) -> None:
    """Sixteen readers read the whole 24 MiB sliver at once, as fast as they can: the
    node's peak resident set (reset first) stays far below one sliver per reader."""
    testbed, blob_id, _ = bed
    pid = testbed.node("node-0").pid
    request = pb.GetSliverRequest(blob_id=blob_id, type=pb.SLIVER_TYPE_PRIMARY, index=0)
    received: list[int] = []
    lock = threading.Lock()

    def read() -> None:
        with testbed.channel("node-0") as channel:
            stub = pb_grpc.StorageNodeStub(channel)
            n = sum(len(part.data) for part in stub.GetSliver(request, timeout=300))
        with lock:
            received.append(n)

    _settled_anon_rss(pid)
    reset_peak_rss(pid)
    before = peak_rss_mib(pid)  # the resident set now, store pages included
    threads = [threading.Thread(target=read) for _ in range(READERS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    peak = peak_rss_mib(pid) - before
    sliver = received[0] / MiB if received else 0
    print(
        f"peak RSS with {READERS} concurrent complete reads of a {sliver:.0f} MiB sliver: "
        f"+{peak:.0f} MiB"
    )
    assert len(received) == READERS and len(set(received)) == 1, received
    # One sliver per reader would be +384 MiB; the store's pages of the sliver (24 MiB,
    # shared) and a few MiB per stream are what a streaming node adds.
    assert peak < READERS * sliver / 4, f"peak RSS grew by {peak:.0f} MiB"


def test_the_streamed_sliver_is_the_stored_one(bed: tuple[Testbed, bytes, bytes]) -> None:
    testbed, blob_id, digest = bed

    async def read() -> bytes:
        async with WalrusClient(client_config.load(testbed.client_config)) as client:
            return (await client.read(BlobId(blob_id))).data

    assert blake3.blake3(asyncio.run(read())).digest() == digest


def test_concurrent_recovery_symbol_requests_do_not_copy_or_expand_the_source_sliver(
    bed: tuple[Testbed, bytes, bytes],
) -> None:
    """Each GetRecoverySymbols answer is one 8 MiB symbol per shard held (4 here), and
    that much stays held while the caller does not read. Cutting them used to copy each
    24 MiB source sliver out of the store and expand it whole (32 MiB) first; now the
    sliver is read where it lies and the parity computed in bands, so the peak above
    what the answers hold is small. Measured as the peak resident set (reset first)."""
    testbed, blob_id, _ = bed
    pid = testbed.node("node-0").pid
    request = pb.GetRecoverySymbolsRequest(
        blob_id=blob_id, target_type=pb.SLIVER_TYPE_SECONDARY, target_index=1
    )
    readers = 6
    before = _settled_anon_rss(pid)
    reset_peak_rss(pid)
    channels, streams = _stalled_reads(
        testbed, lambda stub: stub.GetRecoverySymbols(request, timeout=120), readers, messages=1
    )
    try:
        peak = peak_rss_mib(pid)
    finally:
        _close(channels, streams)
    answers = readers * 4 * 8
    sources = 4 * 24  # store pages the reads touch: file pages, shared by all readers
    extra = peak - before - answers - sources
    print(
        f"peak RSS with {readers} symbol requests: {peak - before:.0f} MiB above idle, "
        f"{extra:.0f} MiB above the answers and the touched store pages"
    )
    # Copying and expanding: about 56 MiB per request being cut (two at a time on the
    # verification threads, more copies waiting for them).
    assert extra < 48, f"{extra:.0f} MiB above the answers"
