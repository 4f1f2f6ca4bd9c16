"""Malformed, oversized and dishonest requests get precise status codes, and nothing bad
is stored; the node keeps serving afterwards. Raw gRPC against a real node process."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import grpc
import pytest

from walrus_node.client.api import WalrusClient
from walrus_node.codec import encoder
from walrus_node.committee.member import Member
from walrus_node.protocol import committee_file, keys, messages
from walrus_node.testbed.testbed import Testbed
from walrus_node.transport import convert
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

from .conftest import run

PRIMARY = pb.SLIVER_TYPE_PRIMARY
Node = tuple[pb_grpc.StorageNodeStub, Member]


@pytest.fixture
def node(testbed: Testbed) -> Iterator[Node]:
    c = committee_file.parse(testbed.committee_file.read_bytes())
    member = c.current.members[0]
    with testbed.channel(member.name) as channel:
        yield pb_grpc.StorageNodeStub(channel), member


def _code(call: object) -> grpc.StatusCode:
    with pytest.raises(grpc.RpcError) as info:
        if callable(call):
            call()
    code: grpc.StatusCode = info.value.code()  # type: ignore[attr-defined]
    return code


def _blob_for(member: Member, size: int = 50_000) -> encoder.EncodedBlob:
    return encoder.encode(os.urandom(size), 7)


def _own_sliver(member: Member, blob: encoder.EncodedBlob) -> tuple[int, bytes]:
    pair = blob.params.pair_on_shard(blob.blob_id.raw, member.shards[0])
    return pair, bytes(blob.primary(pair))


def _parts(blob_id: bytes, index: int, data: bytes, size: int | None = None) -> list[pb.SliverPart]:
    header = pb.SliverHeader(
        blob_id=blob_id, type=PRIMARY, index=index, size=len(data) if size is None else size
    )
    return [pb.SliverPart(header=header), pb.SliverPart(data=data)]


def test_metadata_with_a_malformed_blob_id_is_invalid_argument(node: Node) -> None:
    stub, _ = node
    code = _code(
        lambda: stub.StoreMetadata(pb.StoreMetadataRequest(blob_id=b"short", metadata=b""))
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_metadata_not_matching_its_blob_id_is_refused(node: Node) -> None:
    stub, member = node
    blob = _blob_for(member)
    bad = bytearray(blob.metadata.to_bytes())
    bad[-1] ^= 1
    with pytest.raises(grpc.RpcError) as info:
        stub.StoreMetadata(pb.StoreMetadataRequest(blob_id=blob.blob_id.raw, metadata=bytes(bad)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "hashes to blob ID" in info.value.details()
    with pytest.raises(grpc.RpcError) as info:
        stub.StoreMetadata(pb.StoreMetadataRequest(blob_id=blob.blob_id.raw, metadata=b"junk"))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    status = stub.GetBlobStatus(pb.GetBlobStatusRequest(blob_id=blob.blob_id.raw))
    assert status.state == pb.BlobStatus.STATE_NONEXISTENT


def test_slivers_before_metadata_are_failed_precondition(node: Node) -> None:
    stub, member = node
    blob = _blob_for(member)
    index, data = _own_sliver(member, blob)
    code = _code(lambda: stub.StoreSlivers(iter(_parts(blob.blob_id.raw, index, data))))
    assert code == grpc.StatusCode.FAILED_PRECONDITION


def test_bad_sliver_uploads_are_refused_and_nothing_is_stored(node: Node) -> None:
    stub, member = node
    blob = _blob_for(member)
    bid = blob.blob_id.raw
    stub.StoreMetadata(pb.StoreMetadataRequest(blob_id=bid, metadata=blob.metadata.to_bytes()))
    index, data = _own_sliver(member, blob)

    wrong_size = _code(lambda: stub.StoreSlivers(iter(_parts(bid, index, data, len(data) + 1))))
    assert wrong_size == grpc.StatusCode.INVALID_ARGUMENT
    too_much = [*_parts(bid, index, data), pb.SliverPart(data=b"x")]
    assert _code(lambda: stub.StoreSlivers(iter(too_much))) == grpc.StatusCode.INVALID_ARGUMENT
    truncated = _parts(bid, index, data[:-1], len(data))
    assert _code(lambda: stub.StoreSlivers(iter(truncated))) == grpc.StatusCode.INVALID_ARGUMENT
    bad_index = _parts(bid, 99, data)
    assert _code(lambda: stub.StoreSlivers(iter(bad_index))) == grpc.StatusCode.INVALID_ARGUMENT
    data_first = [pb.SliverPart(data=data)]
    assert _code(lambda: stub.StoreSlivers(iter(data_first))) == grpc.StatusCode.INVALID_ARGUMENT
    flipped = bytearray(data)
    flipped[0] ^= 1
    with pytest.raises(grpc.RpcError) as info:
        stub.StoreSlivers(iter(_parts(bid, index, bytes(flipped))))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "does not match the metadata" in info.value.details()
    other_pair = (index + 1) % 7
    other = _parts(bid, other_pair, bytes(blob.primary(other_pair)))
    assert _code(lambda: stub.StoreSlivers(iter(other))) == grpc.StatusCode.FAILED_PRECONDITION

    status = stub.GetBlobStatus(pb.GetBlobStatusRequest(blob_id=bid))
    assert status.slivers_held == 0
    # The node still works: the honest upload goes through.
    reply = stub.StoreSlivers(iter(_parts(bid, index, data)))
    assert reply.stored == 1


def test_reads_of_unknown_blobs_are_not_found(node: Node) -> None:
    stub, _ = node
    unknown = os.urandom(32)
    assert _code(lambda: stub.GetMetadata(pb.GetMetadataRequest(blob_id=unknown))) == (
        grpc.StatusCode.NOT_FOUND
    )
    with pytest.raises(grpc.RpcError) as info:
        list(stub.GetSliver(pb.GetSliverRequest(blob_id=unknown, type=PRIMARY, index=0)))
    assert info.value.code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as info:
        list(stub.GetSliver(pb.GetSliverRequest(blob_id=unknown, type=7, index=0)))
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_a_read_of_several_slivers_is_bounded_and_stops_at_the_first_it_cannot_give(
    testbed: Testbed, node: Node
) -> None:
    """GetSlivers: at most n_shards slivers, none twice, at least one; those asked for
    come in the order asked, and one the node does not hold ends the call with its error
    after the ones before it."""
    stub, member = node
    data = os.urandom(40_000)

    async def store(client: WalrusClient) -> bytes:
        return (await client.store(data)).blob_id.raw

    blob_id = run(store, testbed.client_config)
    blob = encoder.encode(data, 7)
    own, sliver = _own_sliver(member, blob)
    other = (own + 1) % 7  # one shard per node: held by another node

    def ask(indices: list[int]) -> list[pb.SliverPart]:
        request = pb.GetSliversRequest(blob_id=blob_id, type=PRIMARY, indices=indices)
        return list(stub.GetSlivers(request))

    for bad in ([], [own] * 2, list(range(8))):
        with pytest.raises(grpc.RpcError) as info:
            ask(bad)
        assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    header, *pieces = ask([own])
    assert (header.header.index, header.header.size) == (own, len(sliver))
    assert b"".join(p.data for p in pieces) == sliver
    received: list[pb.SliverPart] = []
    with pytest.raises(grpc.RpcError) as info:
        for part in stub.GetSlivers(
            pb.GetSliversRequest(blob_id=blob_id, type=PRIMARY, indices=[own, other])
        ):
            received.append(part)
    assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert received[0].header.index == own
    assert b"".join(p.data for p in received[1:]) == sliver


def test_confirmation_before_holding_the_slivers_is_refused(node: Node) -> None:
    stub, member = node
    blob = _blob_for(member)
    bid = blob.blob_id.raw
    stub.StoreMetadata(pb.StoreMetadataRequest(blob_id=bid, metadata=blob.metadata.to_bytes()))
    registration = pb.BlobRegistration(end_epoch=2, unencoded_length=50_000)
    code = _code(
        lambda: stub.GetConfirmation(
            pb.GetConfirmationRequest(blob_id=bid, registration=registration)
        )
    )
    assert code == grpc.StatusCode.FAILED_PRECONDITION


def test_dishonest_certificates_are_refused(testbed: Testbed, node: Node) -> None:
    stub, member = node
    blob = _blob_for(member)
    registration = messages.BlobRegistration(2, unencoded_length=50_000)
    message = messages.confirmation_message(1, blob.blob_id.raw, registration)
    strangers = [keys.KeyPair.generate() for _ in range(7)]

    def submit(cert: messages.Certificate) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as info:
            stub.SubmitCertificate(
                pb.SubmitCertificateRequest(certificate=convert.certificate_to_pb(cert))
            )
        return info.value

    unknown = messages.Certificate(
        1, blob.blob_id.raw, registration, tuple((k.public_key, k.sign(message)) for k in strangers)
    )
    error = submit(unknown)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not in the committee" in error.details()

    stale = messages.Certificate(9, blob.blob_id.raw, registration, unknown.signatures)
    assert submit(stale).code() == grpc.StatusCode.ABORTED

    # Real members' keys, but with forged signatures.
    c = committee_file.parse(testbed.committee_file.read_bytes())
    forged = messages.Certificate(
        1,
        blob.blob_id.raw,
        registration,
        tuple((m.public_key, bytes(64)) for m in c.current.members),
    )
    error = submit(forged)
    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "does not verify" in error.details()
    status = stub.GetBlobStatus(pb.GetBlobStatusRequest(blob_id=blob.blob_id.raw))
    assert status.state == pb.BlobStatus.STATE_NONEXISTENT


def test_too_few_signers_do_not_make_a_certificate(testbed: Testbed) -> None:
    async def go(client: WalrusClient) -> None:
        result = await client.store(os.urandom(10_000))
        # Keep signers holding only n - f - 1 = 4 shards.
        weak = messages.Certificate(
            result.certificate.epoch,
            result.certificate.blob_id,
            result.certificate.registration,
            result.certificate.signatures[:4],
        )
        c = await client.committees()
        with pytest.raises(Exception) as info:
            member = c.current.members[0]
            await client._pool.peer(member.endpoint, member.name).submit_certificate(weak)
        assert getattr(info.value, "code", "") == "PERMISSION_DENIED"
        assert "needs 5" in str(info.value)

    run(go, testbed.client_config)


def test_oversized_messages_are_resource_exhausted(node: Node) -> None:
    stub, _ = node
    huge = pb.StoreMetadataRequest(blob_id=os.urandom(32), metadata=bytes(9 << 20))
    assert _code(lambda: stub.StoreMetadata(huge)) == grpc.StatusCode.RESOURCE_EXHAUSTED


def test_admin_calls_need_an_admin_signature(testbed: Testbed, node: Node) -> None:
    _, member = node
    intruder = keys.KeyPair.generate()
    binding = messages.Binding("", member.public_key, int(time.time() * 1000), os.urandom(16))
    payload = b"{}"
    request = pb.AdminRequest(
        method="SetCommittee",
        timestamp_ms=binding.timestamp_ms,
        payload=payload,
        signer=intruder.public_key,
        signature=intruder.sign(messages.admin_message(binding, "SetCommittee", payload)),
        network_id=binding.network_id,
        target=binding.target,
        nonce=binding.nonce,
    )
    with testbed.channel(member.name) as channel:
        admin = pb_grpc.AdminStub(channel)
        assert _code(lambda: admin.SetCommittee(request)) == grpc.StatusCode.PERMISSION_DENIED


def test_node_still_serves_after_bad_input(testbed: Testbed, node: Node) -> None:
    stub, _ = node
    for _ in range(20):
        with pytest.raises(grpc.RpcError):
            stub.StoreMetadata(
                pb.StoreMetadataRequest(blob_id=os.urandom(32), metadata=os.urandom(100))
            )
    info = stub.GetNodeInfo(pb.GetNodeInfoRequest())
    assert info.status == pb.NODE_STATUS_ACTIVE

    async def go(client: WalrusClient) -> bytes:
        result = await client.store(b"still here")
        return (await client.read(result.blob_id)).data

    assert run(go, testbed.client_config) == b"still here"
