"""Attacks through StoreBlob (metadata, slivers and the confirmation in one stream),
against a real node process speaking real gRPC.

One node owning all four shards, so every sliver is its own and a complete upload is
eight slivers; the memory budget is low enough that a few maximum-size slivers exceed
it. Each test fails on a node that reads slivers before checking the metadata and the
registration, buffers a stream before verifying it, confirms without holding every
sliver, or has no budget.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterable, Iterator

import grpc
import pytest

from tests.support.attacks import MiB, forged_metadata, sliver_header
from walrus_node.codec import encoder
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.protocol.messages import BlobRegistration
from walrus_node.testbed.testbed import Testbed
from walrus_node.transport import convert
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

SYMBOL = 16 * MiB
"""Forged symbol size: a primary sliver is 3 symbols (n = 4), 48 MiB."""
BUDGET = 128 * MiB


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    testbed = Testbed.create(
        tmp_path_factory.mktemp("store-blob") / "testbed",
        1,
        4,
        node_settings={
            "memory_budget_bytes": BUDGET,
            "memory_wait_seconds": 2.0,
            "max_sliver_bytes": 64 * MiB,
        },
    )
    try:
        testbed.up()
        yield testbed
    finally:
        testbed.down()


def _start(blob_id: bytes, metadata: bytes, registration: BlobRegistration) -> pb.StoreBlobPart:
    return pb.StoreBlobPart(
        start=pb.StoreBlobStart(
            blob_id=blob_id,
            metadata=metadata,
            registration=convert.registration_to_pb(registration),
        )
    )


def _sliver(part: pb.SliverPart) -> pb.StoreBlobPart:
    if part.WhichOneof("part") == "header":
        return pb.StoreBlobPart(header=part.header)
    return pb.StoreBlobPart(data=part.data)


def _slivers(
    blob: encoder.EncodedBlob, which: Iterable[tuple[SliverType, int]]
) -> list[pb.StoreBlobPart]:
    bid = blob.blob_id.raw
    out = []
    for sliver_type, index in which:
        data = bytes(blob.sliver(sliver_type, index))
        out += [
            _sliver(sliver_header(bid, sliver_type, index, len(data))),
            pb.StoreBlobPart(data=data),
        ]
    return out


ALL = [(t, i) for i in range(4) for t in SliverType]


class _Counting:
    """A request stream that counts the sliver bytes the node pulled from it."""

    def __init__(self, parts: Iterable[pb.StoreBlobPart]) -> None:
        self._parts = parts
        self.sent = 0

    def __iter__(self) -> Iterator[pb.StoreBlobPart]:
        for part in self._parts:
            self.sent += len(part.data)
            yield part


def _call(bed: Testbed, parts: Iterable[pb.StoreBlobPart]) -> pb.StoreBlobResponse:
    channel = bed.channel("node-0")
    with channel:
        reply: pb.StoreBlobResponse = pb_grpc.StorageNodeStub(channel).StoreBlob(
            iter(parts), timeout=120
        )
        return reply


def _refused(bed: Testbed, parts: Iterable[pb.StoreBlobPart]) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as info:
        _call(bed, parts)
    return info.value.code(), info.value.details() or ""


def _registration(bed: Testbed, length: int, ahead: int = 2) -> BlobRegistration:
    return BlobRegistration(bed.committees().epoch + ahead, False, b"", length)


def _status(bed: Testbed, blob_id: bytes) -> pb.BlobStatus:
    channel = bed.channel("node-0")
    with channel:
        status: pb.BlobStatus = pb_grpc.StorageNodeStub(channel).GetBlobStatus(
            pb.GetBlobStatusRequest(blob_id=blob_id), timeout=60
        )
        return status


def test_an_honest_upload_is_confirmed_in_the_same_exchange(bed: Testbed) -> None:
    blob = encoder.encode(os.urandom(100_000), 4)
    registration = _registration(bed, 100_000)
    parts = [
        _start(blob.blob_id.raw, blob.metadata.to_bytes(), registration),
        *_slivers(blob, ALL),
    ]
    reply = _call(bed, parts)
    assert (reply.stored, reply.held, reply.expected) == (8, 8, 8)
    confirmation = convert.confirmation_from_pb(reply.confirmation)
    assert confirmation.is_valid()
    assert confirmation.registration == registration
    assert confirmation.blob_id == blob.blob_id.raw


def test_slivers_before_the_start_part_are_refused(bed: Testbed) -> None:
    blob = encoder.encode(os.urandom(10_000), 4)
    code, details = _refused(bed, _slivers(blob, ALL))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "before the start part" in details


def test_a_second_start_part_is_refused(bed: Testbed) -> None:
    blob = encoder.encode(os.urandom(10_000), 4)
    start = _start(blob.blob_id.raw, blob.metadata.to_bytes(), _registration(bed, 10_000))
    code, details = _refused(bed, [start, *_slivers(blob, ALL[:1]), start])
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "second start" in details


def test_metadata_not_matching_the_blob_id_is_refused_before_any_sliver(bed: Testbed) -> None:
    """The node must check the metadata against the ID before it reads a sliver: the
    stream behind it (eight 48 MiB slivers) is never pulled."""
    real = encoder.encode(os.urandom(10_000), 4)
    forged = forged_metadata(4, SYMBOL)
    size = EncodingParams(4).symbols_in(SliverType.PRIMARY) * SYMBOL
    chunk = os.urandom(MiB)

    def stream() -> Iterator[pb.StoreBlobPart]:
        yield _start(real.blob_id.raw, forged.to_bytes(), _registration(bed, 10_000))
        for index in range(4):
            yield _sliver(sliver_header(real.blob_id.raw, SliverType.PRIMARY, index, size))
            for _ in range(size // MiB):
                yield pb.StoreBlobPart(data=chunk)

    counting = _Counting(stream())
    code, _ = _refused(bed, counting)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert counting.sent <= 2 * size, f"the client got {counting.sent / MiB:.0f} MiB sent"
    assert _status(bed, real.blob_id.raw).state == pb.BlobStatus.STATE_NONEXISTENT


@pytest.mark.parametrize(
    ("length", "ahead", "expected"),
    [(9_999, 2, "unencoded_length"), (10_000, 10_000, "epochs after"), (10_000, 0, "not after")],
)
def test_a_registration_the_node_would_not_confirm_is_refused_before_any_sliver(
    bed: Testbed, length: int, ahead: int, expected: str
) -> None:
    blob = encoder.encode(os.urandom(10_000), 4)
    registration = _registration(bed, length, ahead)
    parts = [_start(blob.blob_id.raw, blob.metadata.to_bytes(), registration), *_slivers(blob, ALL)]
    code, details = _refused(bed, parts)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert expected in details
    # Refused before anything was written: not even the metadata.
    assert _status(bed, blob.blob_id.raw).state == pb.BlobStatus.STATE_NONEXISTENT


def test_a_forged_sliver_is_refused_at_its_last_byte_and_not_confirmed(bed: Testbed) -> None:
    """Metadata with random roots (a valid ID of its own) and maximum-size slivers that
    cannot match: refused at the first sliver, before the next is read."""
    metadata = forged_metadata(4, SYMBOL)
    size = EncodingParams(4).symbols_in(SliverType.PRIMARY) * SYMBOL
    blob_id = metadata.blob_id().raw
    chunk = os.urandom(MiB)

    def stream() -> Iterator[pb.StoreBlobPart]:
        registration = _registration(bed, metadata.unencoded_length)
        yield _start(blob_id, metadata.to_bytes(), registration)
        for index in range(4):
            yield _sliver(sliver_header(blob_id, SliverType.PRIMARY, index, size))
            for _ in range(size // MiB):
                yield pb.StoreBlobPart(data=chunk)

    counting = _Counting(stream())
    code, details = _refused(bed, counting)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "primary sliver 0" in details
    assert counting.sent <= 3 * size, f"the client got {counting.sent / MiB:.0f} MiB sent"
    assert _status(bed, blob_id).slivers_held == 0


def test_an_incomplete_upload_gets_no_confirmation(bed: Testbed) -> None:
    blob = encoder.encode(os.urandom(10_000), 4)
    registration = _registration(bed, 10_000)
    parts = [_start(blob.blob_id.raw, blob.metadata.to_bytes(), registration)]
    code, details = _refused(bed, [*parts, *_slivers(blob, ALL[:7])])
    assert code == grpc.StatusCode.FAILED_PRECONDITION
    assert "holds 7 of the 8 slivers" in details


def test_slivers_of_another_blob_in_the_stream_are_refused(bed: Testbed) -> None:
    blob = encoder.encode(os.urandom(10_000), 4)
    other = encoder.encode(os.urandom(10_000), 4)
    start = _start(blob.blob_id.raw, blob.metadata.to_bytes(), _registration(bed, 10_000))
    code, details = _refused(bed, [start, *_slivers(other, ALL[:1])])
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "one StoreBlob stream carries one blob" in details


def test_concurrent_maximum_size_uploads_hit_the_memory_budget(bed: Testbed) -> None:
    """Several streams each declare a 48 MiB sliver and stall: the budget (128 MiB) admits
    two; the others get RESOURCE_EXHAUSTED instead of memory."""
    metadata = forged_metadata(4, SYMBOL)
    size = EncodingParams(4).symbols_in(SliverType.PRIMARY) * SYMBOL
    blob_id = metadata.blob_id().raw
    registration = _registration(bed, metadata.unencoded_length)
    release = threading.Event()
    codes: list[grpc.StatusCode] = []
    lock = threading.Lock()

    def stalled(index: int) -> Iterator[pb.StoreBlobPart]:
        yield _start(blob_id, metadata.to_bytes(), registration)
        yield _sliver(sliver_header(blob_id, SliverType.PRIMARY, index, size))
        yield pb.StoreBlobPart(data=os.urandom(MiB))
        release.wait(60)

    def upload(index: int) -> None:
        try:
            _call(bed, stalled(index))
            code = grpc.StatusCode.OK
        except grpc.RpcError as e:
            code = e.code()
        with lock:
            codes.append(code)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if len(codes) >= 2:
                break
        time.sleep(0.05)
    release.set()
    for t in threads:
        t.join(60)
    assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 2, codes
