"""Streams that go silent: a caller that opens StoreBlob, StoreAndCertify or
StoreSlivers, reserves room for a big sliver and then sends nothing (nor closes) is cut
off after ``stream_idle_seconds``, and what it held in the memory budget is given back
while the caller still holds its end open. So is a reader that opens GetSliver on a big
sliver and stops reading (flow control holds the node's write). An upload that keeps
sending and a read that keeps reading, however slowly, and a certificate given long after
``stored``, are not cut.

A real node process (one node owning the four shards) speaking real gRPC. Without the
bound, each stalled call lasts until its caller gives up (60 s here), holding its
reservation, and the tests fail on their deadlines.
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator

import grpc
import pytest

from tests.integration.conftest import wait_until
from tests.support.attacks import MiB, forged_metadata, node_gauge, sliver_header
from walrus_node.client import config as client_config
from walrus_node.client.api import WalrusClient
from walrus_node.codec import encoder
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.testbed.testbed import Testbed
from walrus_node.transport import convert
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

IDLE = 4.0
"""The node's ``stream_idle_seconds``."""
STALL = 60.0
"""How long a stalled caller keeps its end open."""
SYMBOL = 4 * MiB
"""Forged symbol size: a primary sliver is 3 symbols (n = 4), 12 MiB."""
ALL = [(t, i) for i in range(4) for t in SliverType]


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    testbed = Testbed.create(
        tmp_path_factory.mktemp("stream-idle") / "testbed",
        1,
        4,
        node_settings={"stream_idle_seconds": IDLE},
    )
    try:
        testbed.up()
        yield testbed
    finally:
        testbed.down()


def _registration(bed: Testbed, length: int) -> BlobRegistration:
    return BlobRegistration(bed.committees().epoch + 2, False, b"", length)


def _reserved(bed: Testbed) -> float:
    return node_gauge(bed.node("node-0").metrics_port, "walrus_memory_budget_used_bytes")


def _stalled_call(
    bed: Testbed, call: Callable[[pb_grpc.StorageNodeStub, threading.Event], object]
) -> tuple[grpc.StatusCode, str, float]:
    """Run ``call`` (which stalls its request stream until the event is set) in a thread;
    once the node holds a reservation for it, measure how long until the node ends the
    call and gives the reservation back, while the caller still stalls. Returns the
    call's status, its details and that time."""
    release = threading.Event()
    outcome: queue.Queue[tuple[grpc.StatusCode, str]] = queue.Queue()

    def run() -> None:
        with bed.channel("node-0") as channel:
            try:
                call(pb_grpc.StorageNodeStub(channel), release)
                outcome.put((grpc.StatusCode.OK, ""))
            except grpc.RpcError as e:
                outcome.put((e.code(), e.details() or ""))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: _reserved(bed) > 0, 60, "the node to reserve room for the sliver")
        stalled = time.monotonic()
        code, details = outcome.get(timeout=STALL / 2)  # the caller still stalls
        wait_until(lambda: _reserved(bed) == 0, 10, "the reservation to be given back")
        took = time.monotonic() - stalled
        assert not release.is_set()
    finally:
        release.set()
        thread.join(STALL)
    return code, details, took


def _big_sliver(bed: Testbed) -> tuple[bytes, bytes, BlobRegistration, pb.SliverPart]:
    """Forged metadata (a valid blob ID) and the header of a 12 MiB primary sliver."""
    metadata = forged_metadata(4, SYMBOL)
    size = EncodingParams(4).symbols_in(SliverType.PRIMARY) * SYMBOL
    blob_id = metadata.blob_id().raw
    header = sliver_header(blob_id, SliverType.PRIMARY, 0, size)
    return blob_id, metadata.to_bytes(), _registration(bed, metadata.unencoded_length), header


def _blob_start(
    blob_id: bytes, metadata: bytes, registration: BlobRegistration
) -> pb.StoreBlobStart:
    return pb.StoreBlobStart(
        blob_id=blob_id, metadata=metadata, registration=convert.registration_to_pb(registration)
    )


def _assert_cut(code: grpc.StatusCode, details: str, took: float) -> None:
    assert code == grpc.StatusCode.FAILED_PRECONDITION, (code, details)
    assert f"no message for {IDLE:g} s (stream_idle_seconds)" in details
    assert took < STALL / 2, took


def test_a_stalled_store_blob_is_ended_and_gives_back_its_reservation(bed: Testbed) -> None:
    blob_id, metadata, registration, header = _big_sliver(bed)

    def call(stub: pb_grpc.StorageNodeStub, release: threading.Event) -> object:
        def parts() -> Iterator[pb.StoreBlobPart]:
            yield pb.StoreBlobPart(start=_blob_start(blob_id, metadata, registration))
            yield pb.StoreBlobPart(header=header.header)
            yield pb.StoreBlobPart(data=os.urandom(MiB))
            release.wait(STALL)

        return stub.StoreBlob(parts(), timeout=STALL * 2)

    _assert_cut(*_stalled_call(bed, call))


def test_a_stalled_store_and_certify_upload_is_ended_and_gives_back_its_reservation(
    bed: Testbed,
) -> None:
    blob_id, metadata, registration, header = _big_sliver(bed)

    def call(stub: pb_grpc.StorageNodeStub, release: threading.Event) -> object:
        def parts() -> Iterator[pb.StoreAndCertifyPart]:
            start = pb.StoreAndCertifyStart(
                blob=_blob_start(blob_id, metadata, registration), uploaded=False
            )
            yield pb.StoreAndCertifyPart(start=start)
            yield pb.StoreAndCertifyPart(header=header.header)
            yield pb.StoreAndCertifyPart(data=os.urandom(MiB))
            release.wait(STALL)

        return list(stub.StoreAndCertify(parts(), timeout=STALL * 2))

    _assert_cut(*_stalled_call(bed, call))


def test_a_stalled_store_slivers_is_ended_and_gives_back_its_reservation(bed: Testbed) -> None:
    blob_id, metadata, _, header = _big_sliver(bed)
    with bed.channel("node-0") as channel:
        pb_grpc.StorageNodeStub(channel).StoreMetadata(
            pb.StoreMetadataRequest(blob_id=blob_id, metadata=metadata), timeout=60
        )

    def call(stub: pb_grpc.StorageNodeStub, release: threading.Event) -> object:
        def parts() -> Iterator[pb.SliverPart]:
            yield header
            yield pb.SliverPart(data=os.urandom(MiB))
            release.wait(STALL)

        return stub.StoreSlivers(parts(), timeout=STALL * 2)

    _assert_cut(*_stalled_call(bed, call))


def test_a_slow_upload_that_keeps_sending_is_not_cut(bed: Testbed) -> None:
    """Messages a little apart, the whole upload lasting twice the bound: confirmed."""
    blob = encoder.encode(os.urandom(50_000), 4)
    registration = _registration(bed, 50_000)
    pause = IDLE / 4
    gaps = 8

    def parts() -> Iterator[pb.StoreBlobPart]:
        yield pb.StoreBlobPart(
            start=_blob_start(blob.blob_id.raw, blob.metadata.to_bytes(), registration)
        )
        slivers = [(t, i, bytes(blob.sliver(t, i))) for t, i in ALL]
        for n, (sliver_type, index, data) in enumerate(slivers):
            header = sliver_header(blob.blob_id.raw, sliver_type, index, len(data)).header
            if n < gaps:
                time.sleep(pause)
            yield pb.StoreBlobPart(header=header)
            yield pb.StoreBlobPart(data=data)

    started = time.monotonic()
    with bed.channel("node-0") as channel:
        reply = pb_grpc.StorageNodeStub(channel).StoreBlob(parts(), timeout=120)
    assert time.monotonic() - started >= 2 * IDLE
    assert (reply.stored, reply.held, reply.expected) == (8, 8, 8)


def test_a_certificate_given_long_after_stored_is_still_taken(bed: Testbed) -> None:
    """After ``stored`` the wait for the certificate is bounded by
    ``uncertified_ttl_seconds``, not by the idle bound of the upload."""
    blob = encoder.encode(os.urandom(20_000), 4)
    registration = _registration(bed, 20_000)
    given: queue.Queue[pb.StoreAndCertifyPart | None] = queue.Queue()

    def parts() -> Iterator[pb.StoreAndCertifyPart]:
        while (part := given.get()) is not None:
            yield part

    slivers = []
    for sliver_type, index in ALL:
        data = bytes(blob.sliver(sliver_type, index))
        header = sliver_header(blob.blob_id.raw, sliver_type, index, len(data)).header
        slivers.append(pb.WholeSliver(header=header, data=data))
    start = pb.StoreAndCertifyStart(
        blob=_blob_start(blob.blob_id.raw, blob.metadata.to_bytes(), registration),
        slivers=slivers,
        uploaded=True,
    )
    with bed.channel("node-0") as channel:
        replies = pb_grpc.StorageNodeStub(channel).StoreAndCertify(parts(), timeout=120)
        try:
            given.put(pb.StoreAndCertifyPart(start=start))
            stored = next(replies).stored
            confirmation = convert.confirmation_from_pb(stored.confirmation)
            time.sleep(IDLE * 1.5)
            certificate = Certificate.from_confirmations([confirmation])
            given.put(pb.StoreAndCertifyPart(certificate=convert.certificate_to_pb(certificate)))
            given.put(None)
            assert next(replies).certified.newly_certified
        finally:
            given.put(None)
            replies.cancel()


READ_BLOB = 48 * MiB
"""A blob whose primary slivers (24 MiB) are far more than HTTP/2 lets a reader buffer."""

FIXED_WINDOW = [("grpc.http2.bdp_probe", 0)]
"""The readers' channel option: a receive window of gRPC's default size, not one grown by
its bandwidth estimate. A node's write of a message completes when the reader's window
opens, and gRPC announces a grown window (many MiB on loopback, more the longer its pings
take on a loaded machine) only after the reader has taken about half of it: a reader
taking a 1 MiB message every ``IDLE / 8`` s then held the node's write past ``IDLE`` and
was cut, although it never stopped reading (docs/node-runtime.md)."""


@pytest.fixture(scope="module")
def big_blob(bed: Testbed) -> bytes:
    """A certified 48 MiB blob on the node, stored with the client."""

    async def store() -> bytes:
        async with WalrusClient(client_config.load(bed.client_config)) as client:
            result = await client.store(os.urandom(READ_BLOB))
            return result.blob_id.raw

    return asyncio.run(store())


def test_a_reader_that_stops_reading_is_ended_and_gives_back_its_reservation(
    bed: Testbed, big_blob: bytes
) -> None:
    release = threading.Event()
    outcome: queue.Queue[tuple[grpc.StatusCode, str]] = queue.Queue()

    def read() -> None:
        with bed.channel("node-0", FIXED_WINDOW) as channel:
            stream = pb_grpc.StorageNodeStub(channel).GetSliver(
                pb.GetSliverRequest(blob_id=big_blob, type=pb.SLIVER_TYPE_PRIMARY, index=0),
                timeout=STALL * 2,
            )
            try:
                next(stream)  # the header: the call is under way
                release.wait(STALL)
                for _ in stream:
                    pass
                outcome.put((grpc.StatusCode.OK, ""))
            except grpc.RpcError as e:
                outcome.put((e.code(), e.details() or ""))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        wait_until(lambda: _reserved(bed) > 0, 60, "the node to reserve room for the read")
        stalled = time.monotonic()
        wait_until(lambda: _reserved(bed) == 0, STALL / 2, "the reservation to be given back")
        took = time.monotonic() - stalled
        assert not release.is_set() and outcome.empty()  # the reader still stalls
    finally:
        release.set()
        reader.join(STALL)
    code, details = outcome.get(timeout=10)
    assert code == grpc.StatusCode.FAILED_PRECONDITION, (code, details)
    assert f"the caller read no message for {IDLE:g} s (stream_idle_seconds)" in details
    assert took < STALL / 2, took


def test_a_slow_reader_that_keeps_reading_is_not_cut(bed: Testbed, big_blob: bytes) -> None:
    """A message taken every IDLE / 8 s, the whole read lasting longer than the bound:
    the sliver arrives whole."""
    size = 0  # from the header
    received = 0
    started = time.monotonic()
    with bed.channel("node-0", FIXED_WINDOW) as channel:
        stream = pb_grpc.StorageNodeStub(channel).GetSliver(
            pb.GetSliverRequest(blob_id=big_blob, type=pb.SLIVER_TYPE_PRIMARY, index=1), timeout=120
        )
        for part in stream:
            if part.WhichOneof("part") == "header":
                size = part.header.size
                continue
            received += len(part.data)
            time.sleep(IDLE / 8)
    assert time.monotonic() - started > IDLE
    assert size > 0 and received == size
