"""StoreBlob's hand-written data parts: byte for byte what the generated code writes, and
read back as the generated code reads them; whatever is not exactly one data field is left
to the generated parser."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walrus_node.codec.params import SliverType
from walrus_node.transport import convert, data_parts, framing
from walrus_proto.node.v1 import node_pb2 as pb


@given(st.binary(max_size=1 << 12))
def test_an_encoded_data_part_is_what_the_generated_code_serializes(chunk: bytes) -> None:
    assert data_parts.encode(chunk) == pb.StoreBlobPart(data=chunk).SerializeToString()


def test_a_large_chunk_is_encoded_from_a_view_of_a_larger_buffer() -> None:
    buffer = bytes(range(256)) * 8192  # 2 MiB: a length of three varint bytes
    view = memoryview(buffer)[5 : 5 + framing.CHUNK_SIZE]
    expected = pb.StoreBlobPart(data=bytes(view)).SerializeToString()
    assert data_parts.encode(view) == expected


@given(st.lists(st.binary(max_size=3000), max_size=6))
def test_a_sliver_in_pieces_is_sent_as_the_whole_sliver_in_chunks(pieces: list[bytes]) -> None:
    """A secondary sliver's symbols, sent where they lie: the same parts as the joined
    sliver, chunk for chunk."""
    whole = b"".join(pieces)
    views = framing.sliver_pieces(tuple(memoryview(piece) for piece in pieces))
    chunks = list(framing.chunk_pieces(views))
    assert b"".join(data_parts.encode(chunk) for chunk in chunks) == b"".join(
        pb.StoreBlobPart(data=whole[i : i + framing.CHUNK_SIZE]).SerializeToString()
        for i in range(0, len(whole), framing.CHUNK_SIZE)
    )


@given(st.binary(max_size=1 << 12))
def test_a_data_part_is_read_back_as_a_view_of_the_message(chunk: bytes) -> None:
    raw = pb.StoreBlobPart(data=chunk).SerializeToString()
    part = data_parts.parse(raw)
    assert isinstance(part, data_parts.Chunk)
    assert part.data.obj is raw  # a view of the received bytes, not a copy
    assert bytes(part.data) == chunk


@given(st.binary(max_size=64))
def test_any_bytes_read_as_a_chunk_are_a_data_part_to_the_generated_parser(raw: bytes) -> None:
    try:
        part = data_parts.parse(raw)
    except Exception:  # the generated parser refused it: not a data part either
        return
    if isinstance(part, data_parts.Chunk):
        generated = pb.StoreBlobPart.FromString(raw)
        assert generated.WhichOneof("part") == "data"
        assert generated.data == bytes(part.data)


@pytest.mark.parametrize(
    "raw",
    [
        pb.StoreBlobPart(start=pb.StoreBlobStart(blob_id=b"\1" * 32)).SerializeToString(),
        pb.StoreBlobPart(header=pb.SliverHeader(blob_id=b"\1" * 32, size=3)).SerializeToString(),
        # a data field followed by a second one: the generated parser's rule (last wins)
        pb.StoreBlobPart(data=b"abc").SerializeToString() + b"\x1a\x01z",
    ],
    ids=["start", "header", "two data fields"],
)
def test_other_messages_are_parsed_by_the_generated_code(raw: bytes) -> None:
    part = data_parts.parse(raw)
    assert isinstance(part, pb.StoreBlobPart)
    assert part == pb.StoreBlobPart.FromString(raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"\x1a\x05abc",  # declares more than it carries
        b"\x1a\x01abc",  # declares less
        b"\x1a\x80",  # a varint that never ends
        b"\x1a" + b"\xff" * 11,  # a varint too long
    ],
    ids=["short", "long", "open varint", "overlong varint"],
)
def test_a_malformed_data_part_is_not_taken_as_a_chunk(raw: bytes) -> None:
    try:
        part = data_parts.parse(raw)
    except Exception:
        return  # refused by the generated parser, as before
    assert not isinstance(part, data_parts.Chunk)


def test_serialize_sends_encoded_bytes_as_they_are_and_serializes_messages() -> None:
    raw = data_parts.encode(b"xyz")
    assert data_parts.serialize(raw) is raw
    start = pb.StoreBlobPart(start=pb.StoreBlobStart(blob_id=b"\2" * 32))
    assert data_parts.serialize(start) == start.SerializeToString()


def test_frames_put_a_sliver_together_from_views() -> None:
    limits = framing.StreamLimits(max_sliver_bytes=1 << 20, max_stream_bytes=1 << 22, max_items=4)
    frames = framing.SliverFrames(limits, "StoreBlob")
    header = framing.sliver_header(b"\1" * 32, SliverType.PRIMARY, 0, 6).header
    frames.header(header)
    assert frames.data(memoryview(b"..abc")[2:]) is None
    sliver = frames.data(memoryview(b"def"))
    assert sliver is not None and sliver.data == b"abcdef" and isinstance(sliver.data, bytes)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(list(SliverType)),
            st.one_of(st.integers(0, 300), st.integers(0, 2**32 - 1)),
            st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=4),
        ),
        max_size=4,
    ),
    st.booleans(),
    st.binary(max_size=200),
    st.binary(min_size=32, max_size=32),
)
def test_a_start_part_with_whole_slivers_is_what_the_generated_code_serializes(
    slivers: list[tuple[SliverType, int, list[bytes]]],
    uploaded: bool,
    metadata: bytes,
    blob_id: bytes,
) -> None:
    """StoreAndCertify's start part, each sliver's bytes given as views of its pieces and
    its header written by hand."""
    blob = pb.StoreBlobStart(
        blob_id=blob_id, metadata=metadata, registration=pb.BlobRegistration(end_epoch=3)
    )
    expected = pb.StoreAndCertifyPart(
        start=pb.StoreAndCertifyStart(
            blob=blob,
            slivers=[
                pb.WholeSliver(
                    header=pb.SliverHeader(
                        blob_id=blob_id,
                        type=convert.sliver_type_to_pb(sliver_type),
                        index=index,
                        size=sum(map(len, pieces)),
                    ),
                    data=b"".join(pieces),
                )
                for sliver_type, index, pieces in slivers
            ],
            uploaded=uploaded,
        )
    ).SerializeToString()
    given_as_views = [
        (t, index, [memoryview(piece) for piece in pieces], sum(map(len, pieces)))
        for t, index, pieces in slivers
    ]
    assert data_parts.encode_start(blob, given_as_views, uploaded) == expected
