"""Attacks through StoreAndCertify (a blob's upload, its confirmation and then its
certificate on one stream), against a real node process speaking real gRPC.

One node owning all four shards, so a complete upload is eight slivers and the node's own
confirmation makes a certificate. Each test fails on a node that takes slivers before the
start part, trusts a whole sliver's declared size, confirms an upload that did not end,
takes a certificate before its confirmation or of another blob, or records a certificate
whose signature does not verify.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import queue
from collections.abc import Iterable, Iterator

import grpc
import pytest

from tests.support.attacks import sliver_header
from walrus_node.codec import encoder
from walrus_node.codec.params import SliverType
from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.testbed.testbed import Testbed
from walrus_node.transport import client as transport_client
from walrus_node.transport import convert
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

ALL = [(t, i) for i in range(4) for t in SliverType]


@pytest.fixture(scope="module")
def bed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Testbed]:
    testbed = Testbed.create(tmp_path_factory.mktemp("store-and-certify") / "testbed", 1, 4)
    try:
        testbed.up()
        yield testbed
    finally:
        testbed.down()


def _registration(bed: Testbed, length: int) -> BlobRegistration:
    return BlobRegistration(bed.committees().epoch + 2, False, b"", length)


def _whole(
    blob: encoder.EncodedBlob, which: Iterable[tuple[SliverType, int]]
) -> list[pb.WholeSliver]:
    out = []
    for sliver_type, index in which:
        data = bytes(blob.sliver(sliver_type, index))
        header = sliver_header(blob.blob_id.raw, sliver_type, index, len(data)).header
        out.append(pb.WholeSliver(header=header, data=data))
    return out


def _start(
    blob: encoder.EncodedBlob,
    registration: BlobRegistration,
    slivers: list[pb.WholeSliver],
    uploaded: bool = True,
) -> pb.StoreAndCertifyPart:
    return pb.StoreAndCertifyPart(
        start=pb.StoreAndCertifyStart(
            blob=pb.StoreBlobStart(
                blob_id=blob.blob_id.raw,
                metadata=blob.metadata.to_bytes(),
                registration=convert.registration_to_pb(registration),
            ),
            slivers=slivers,
            uploaded=uploaded,
        )
    )


class _Exchange:
    """A StoreAndCertify call whose parts are given one at a time (``None`` ends the
    client's side), and whose answers are read one at a time."""

    def __init__(self, bed: Testbed) -> None:
        self._channel = bed.channel("node-0")
        self._parts: queue.Queue[pb.StoreAndCertifyPart | None] = queue.Queue()
        self._replies = pb_grpc.StorageNodeStub(self._channel).StoreAndCertify(
            self._requests(), timeout=60
        )

    def _requests(self) -> Iterator[pb.StoreAndCertifyPart]:
        while (part := self._parts.get()) is not None:
            yield part

    def send(self, *parts: pb.StoreAndCertifyPart | None) -> None:
        for part in parts:
            self._parts.put(part)

    def reply(self) -> pb.StoreAndCertifyReply:
        return next(self._replies)  # type: ignore[no-any-return]

    def refused(self) -> tuple[grpc.StatusCode, str]:
        with pytest.raises(grpc.RpcError) as info:
            while True:
                self.reply()
        return info.value.code(), info.value.details() or ""

    def close(self) -> None:
        self._parts.put(None)
        self._replies.cancel()
        self._channel.close()


@pytest.fixture
def exchange(bed: Testbed) -> Iterator[_Exchange]:
    call = _Exchange(bed)
    try:
        yield call
    finally:
        call.close()


def _state(bed: Testbed, blob_id: bytes) -> pb.BlobStatus:
    with bed.channel("node-0") as channel:
        status: pb.BlobStatus = pb_grpc.StorageNodeStub(channel).GetBlobStatus(
            pb.GetBlobStatusRequest(blob_id=blob_id), timeout=60
        )
        return status


def test_an_upload_and_its_certificate_take_one_call(bed: Testbed, exchange: _Exchange) -> None:
    blob = encoder.encode(os.urandom(100_000), 4)
    registration = _registration(bed, 100_000)
    exchange.send(_start(blob, registration, _whole(blob, ALL)))
    stored = exchange.reply().stored
    assert (stored.stored, stored.held, stored.expected) == (8, 8, 8)
    confirmation = convert.confirmation_from_pb(stored.confirmation)
    assert confirmation.is_valid() and confirmation.registration == registration
    assert _state(bed, blob.blob_id.raw).state == pb.BlobStatus.STATE_REGISTERED
    certificate = Certificate.from_confirmations([confirmation])
    exchange.send(pb.StoreAndCertifyPart(certificate=convert.certificate_to_pb(certificate)), None)
    certified = exchange.reply().certified
    assert certified.newly_certified and not certified.syncing
    assert _state(bed, blob.blob_id.raw).state == pb.BlobStatus.STATE_CERTIFIED


def test_slivers_framed_after_the_start_are_taken_until_the_client_says_they_are_sent(
    bed: Testbed, exchange: _Exchange
) -> None:
    blob = encoder.encode(os.urandom(100_000), 4)
    exchange.send(_start(blob, _registration(bed, 100_000), _whole(blob, ALL[:3]), False))
    assert exchange.reply().WhichOneof("reply") == "taken"  # more follow: send them
    for sliver in _whole(blob, ALL[3:]):
        exchange.send(
            pb.StoreAndCertifyPart(header=sliver.header),
            pb.StoreAndCertifyPart(data=sliver.data[:1000]),
            pb.StoreAndCertifyPart(data=sliver.data[1000:]),
        )
    exchange.send(pb.StoreAndCertifyPart(uploaded=pb.SliversSent()), None)
    stored = exchange.reply().stored
    assert (stored.stored, stored.held, stored.expected) == (8, 8, 8)
    with pytest.raises(StopIteration):  # no certificate given: the node ends the call
        exchange.reply()


def test_an_upload_that_does_not_end_is_not_confirmed(bed: Testbed, exchange: _Exchange) -> None:
    blob = encoder.encode(os.urandom(10_000), 4)
    exchange.send(_start(blob, _registration(bed, 10_000), _whole(blob, ALL), False), None)
    code, details = exchange.refused()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "ended inside the upload" in details


def test_a_whole_sliver_shorter_than_it_declares_is_refused(
    bed: Testbed, exchange: _Exchange
) -> None:
    blob = encoder.encode(os.urandom(10_000), 4)
    slivers = _whole(blob, ALL)
    slivers[0].header.size += 1
    exchange.send(_start(blob, _registration(bed, 10_000), slivers))
    code, details = exchange.refused()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "declares" in details
    assert _state(bed, blob.blob_id.raw).slivers_held == 0


@pytest.mark.parametrize("forged", [0, len(ALL) - 1], ids=["first", "last"])
def test_a_forged_whole_sliver_is_refused_and_not_stored(
    bed: Testbed, exchange: _Exchange, forged: int
) -> None:
    """The start part's slivers are verified together: a forged one anywhere among them
    fails the upload, and none of the others is stored."""
    blob = encoder.encode(os.urandom(10_000), 4)
    slivers = _whole(blob, ALL)
    slivers[forged].data = bytes(b ^ 1 for b in slivers[forged].data)
    exchange.send(_start(blob, _registration(bed, 10_000), slivers))
    code, details = exchange.refused()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    sliver_type, index = ALL[forged]
    assert f"{sliver_type} sliver {index}" in details
    assert _state(bed, blob.blob_id.raw).slivers_held == 0


def test_a_certificate_before_the_confirmation_is_refused(
    bed: Testbed, exchange: _Exchange
) -> None:
    blob = encoder.encode(os.urandom(10_000), 4)
    exchange.send(_start(blob, _registration(bed, 10_000), _whole(blob, ALL[:2]), False))
    exchange.send(pb.StoreAndCertifyPart(certificate=pb.Certificate(blob_id=blob.blob_id.raw)))
    code, details = exchange.refused()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "unexpected certificate" in details


def test_a_certificate_of_another_blob_is_refused(bed: Testbed, exchange: _Exchange) -> None:
    other = encoder.encode(os.urandom(10_000), 4)
    first = _Exchange(bed)
    try:
        first.send(_start(other, _registration(bed, 10_000), _whole(other, ALL)))
        other_confirmation = convert.confirmation_from_pb(first.reply().stored.confirmation)
    finally:
        first.close()
    blob = encoder.encode(os.urandom(10_000), 4)
    exchange.send(_start(blob, _registration(bed, 10_000), _whole(blob, ALL)))
    assert exchange.reply().stored.held == 8
    certificate = Certificate.from_confirmations([other_confirmation])
    exchange.send(pb.StoreAndCertifyPart(certificate=convert.certificate_to_pb(certificate)))
    code, details = exchange.refused()
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "of another blob" in details
    assert _state(bed, other.blob_id.raw).state == pb.BlobStatus.STATE_REGISTERED
    assert _state(bed, blob.blob_id.raw).state == pb.BlobStatus.STATE_REGISTERED


def test_a_certificate_whose_signature_does_not_verify_is_not_recorded(
    bed: Testbed, exchange: _Exchange
) -> None:
    blob = encoder.encode(os.urandom(10_000), 4)
    exchange.send(_start(blob, _registration(bed, 10_000), _whole(blob, ALL)))
    confirmation = convert.confirmation_from_pb(exchange.reply().stored.confirmation)
    wire = convert.certificate_to_pb(Certificate.from_confirmations([confirmation]))
    forged = bytearray(wire.signatures[0].signature)
    forged[0] ^= 1
    wire.signatures[0].signature = bytes(forged)
    exchange.send(pb.StoreAndCertifyPart(certificate=wire))
    code, _ = exchange.refused()
    assert code == grpc.StatusCode.PERMISSION_DENIED
    assert _state(bed, blob.blob_id.raw).state == pb.BlobStatus.STATE_REGISTERED


def test_a_client_streaming_a_big_upload_gets_the_node_s_refusal_of_its_start(
    bed: Testbed,
) -> None:
    """The node refuses the start part (a registration whose length is not the blob's)
    of an upload whose slivers follow it framed: the client, waiting for the node to take
    the start part before it streams, reads the node's own status, not gRPC's "INTERNAL:
    Internal error from Core" that streaming into a refused call often gives."""
    data = os.urandom(8 << 20)  # 2.8 MB primary slivers at 4 shards: framed
    blob = encoder.encode(data, 4)
    registration = _registration(bed, len(data) + 1)
    slivers = [(t, i, bytes(blob.sliver(t, i))) for t, i in ALL]

    async def upload() -> None:
        pool = transport_client.ChannelPool(credentials=bed.client_tls())
        try:
            node = bed.node("node-0")
            call = pool.peer(node.endpoint, node.name).store_call()
            await call.upload(blob.blob_id.raw, blob.metadata.to_bytes(), registration, slivers)
        finally:
            await pool.close()

    for _ in range(3):
        with pytest.raises(transport_client.RpcError) as info:
            asyncio.run(upload())
        assert info.value.code == "INVALID_ARGUMENT", info.value
        assert "unencoded_length" in info.value.details


def test_a_client_that_never_gives_its_certificate_does_not_hold_the_call(
    tmp_path: pathlib.Path,
) -> None:
    """After ``stored`` the node waits for the certificate at most
    ``uncertified_ttl_seconds`` (after which the data is collected as never certified
    anyway): a client that vanished without closing its stream does not hold the call,
    and its slot among the server's concurrent calls, for ever."""
    testbed = Testbed.create(
        tmp_path / "testbed", 1, 4, node_settings={"uncertified_ttl_seconds": 2}
    )
    try:
        testbed.up()
        call = _Exchange(testbed)
        try:
            blob = encoder.encode(os.urandom(10_000), 4)
            call.send(_start(blob, _registration(testbed, 10_000), _whole(blob, ALL)))
            assert call.reply().WhichOneof("reply") == "stored"
            code, details = call.refused()  # the client sends nothing more, nor closes
            assert code == grpc.StatusCode.FAILED_PRECONDITION
            assert "no certificate within 2 s" in details
        finally:
            call.close()
    finally:
        testbed.down()
