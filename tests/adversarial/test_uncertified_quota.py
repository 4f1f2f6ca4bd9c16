"""Anyone may upload data for a blob that is never certified: a node caps how much of it
it keeps (``uncertified_quota_bytes``); certified data does not count against it."""

from __future__ import annotations

import asyncio
import os
import pathlib
import time
from collections.abc import Iterator

import grpc
import pytest

from tests.support.attacks import MiB, node_gauge, sliver_header
from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.codec import encoder
from walrus_node.codec.params import SliverType
from walrus_node.testbed.testbed import Testbed
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

QUOTA = 2 * MiB
BLOB = 400_000
"""Encoded, one node holding all four shards keeps about 1.3 MB of it: two exceed QUOTA."""


@pytest.fixture
def bed(tmp_path: pathlib.Path) -> Iterator[Testbed]:
    testbed = Testbed.create(
        tmp_path / "testbed", 1, 4, node_settings={"uncertified_quota_bytes": QUOTA}
    )
    try:
        testbed.up()
        yield testbed
    finally:
        testbed.down()


def _upload_uncertified(stub: pb_grpc.StorageNodeStub) -> None:
    """Metadata and every sliver of a fresh blob, and no certificate."""
    blob = encoder.encode(os.urandom(BLOB), 4)
    bid = blob.blob_id.raw
    stub.StoreMetadata(pb.StoreMetadataRequest(blob_id=bid, metadata=blob.metadata.to_bytes()))
    parts: list[pb.SliverPart] = []
    for index in range(4):
        for sliver_type, data in (
            (SliverType.PRIMARY, bytes(blob.primary(index))),
            (SliverType.SECONDARY, bytes(blob.secondary(index))),
        ):
            parts += [sliver_header(bid, sliver_type, index, len(data)), pb.SliverPart(data=data)]
    stub.StoreSlivers(iter(parts), timeout=60)


def _store_certified(bed: Testbed) -> None:
    async def go() -> None:
        async with WalrusClient(client_config.load(bed.client_config)) as client:
            result = await client.store(os.urandom(BLOB))
            assert result.certified_by == 1

    asyncio.run(go())


def test_uncertified_data_is_capped_and_certified_data_is_not(bed: Testbed) -> None:
    _store_certified(bed)
    _store_certified(bed)  # two certified blobs: more than the quota, and fine (certifying
    # a blob releases its charge)
    with bed.channel("node-0") as channel:
        stub = pb_grpc.StorageNodeStub(channel)
        _upload_uncertified(stub)
        with pytest.raises(grpc.RpcError) as info:
            _upload_uncertified(stub)
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "uncertified" in (info.value.details() or "")


def test_the_quota_survives_a_sigkill_of_the_node(bed: Testbed) -> None:
    """The tally is rebuilt from the store at start-up: data stored before a crash still
    counts, so restarting a node does not reopen its quota to the same caller."""
    with bed.channel("node-0") as channel:
        _upload_uncertified(pb_grpc.StorageNodeStub(channel))
    counted = node_gauge(bed.node("node-0").metrics_port, "walrus_uncertified_bytes")
    assert counted > QUOTA / 2
    bed.kill("node-0")  # SIGKILL
    bed.start("node-0")
    assert node_gauge(bed.node("node-0").metrics_port, "walrus_uncertified_bytes") == counted
    with bed.channel("node-0") as channel, pytest.raises(grpc.RpcError) as info:
        _upload_uncertified(pb_grpc.StorageNodeStub(channel))
    assert info.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "uncertified" in (info.value.details() or "")


def test_collected_data_frees_the_quota_at_the_configured_interval(tmp_path: pathlib.Path) -> None:
    """``gc_interval_seconds`` and ``uncertified_ttl_seconds`` short: the first upload
    is collected (after a restart too) and the quota admits the next."""
    testbed = Testbed.create(
        tmp_path / "testbed",
        1,
        4,
        node_settings={
            "uncertified_quota_bytes": QUOTA,
            "uncertified_ttl_seconds": 1.0,
            "gc_interval_seconds": 0.2,
        },
    )
    try:
        testbed.up()
        with testbed.channel("node-0") as channel:
            _upload_uncertified(pb_grpc.StorageNodeStub(channel))
        testbed.kill("node-0")
        testbed.start("node-0")
        deadline = time.monotonic() + 60
        while True:  # collected within a few passes once the TTL is over
            try:
                with testbed.channel("node-0") as channel:
                    _upload_uncertified(pb_grpc.StorageNodeStub(channel))
                break
            except grpc.RpcError as e:
                assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, e
                assert time.monotonic() < deadline, "the quota was never freed"
                time.sleep(0.2)
    finally:
        testbed.down()
