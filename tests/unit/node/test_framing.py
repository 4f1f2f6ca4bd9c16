"""Stream framing: what is cut into messages comes back whole, and whatever breaks a
limit or the framing is refused at the message that breaks it."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walrus_node.codec.params import SliverType
from walrus_node.codec.recovery import RecoverySymbol
from walrus_node.protocol import errors
from walrus_node.protocol.sliver_buffer import ROOM, SliverBuffer
from walrus_node.transport import framing
from walrus_proto.node.v1 import node_pb2 as pb

BLOB = b"\1" * 32
WIDE = framing.StreamLimits(max_sliver_bytes=1 << 30, max_stream_bytes=1 << 40, max_items=512)


T = TypeVar("T")


def _read(
    frames: framing.SliverFrames, parts: list[pb.SliverPart], take: Callable[[bytes], T | None]
) -> list[T]:
    """The slivers ``take`` (``frames.data`` or ``frames.fill``) hands back for ``parts``."""
    out = []
    for part in parts:
        if part.WhichOneof("part") == "header":
            frames.header(part.header)
        else:
            sliver = take(part.data)
            if sliver is not None:
                out.append(sliver)
    frames.end()
    return out


def _parts(framed: list[tuple[SliverType, int, bytes]], chunk: int) -> list[pb.SliverPart]:
    """``framed`` as a sliver stream cut in chunks of ``chunk`` bytes (many chunk
    boundaries on small slivers)."""
    old = framing.CHUNK_SIZE
    framing.CHUNK_SIZE = chunk
    try:
        return list(framing.sliver_parts(BLOB, framed))
    finally:
        framing.CHUNK_SIZE = old


slivers = st.lists(
    st.tuples(st.sampled_from(list(SliverType)), st.binary(min_size=1, max_size=3000)),
    min_size=1,
    max_size=6,
)


@given(slivers, st.integers(min_value=1, max_value=1024))
def test_slivers_come_back_whole(items: list[tuple[SliverType, bytes]], chunk: int) -> None:
    framed = [(t, i, d) for i, (t, d) in enumerate(items)]
    frames = framing.SliverFrames(WIDE, "test")
    got = _read(frames, _parts(framed, chunk), frames.data)
    assert [(s.sliver_type, s.index, s.data) for s in got] == framed


@given(slivers, st.integers(min_value=1, max_value=1024))
def test_slivers_filled_into_buffers_come_back_whole_with_the_room_in_front(
    items: list[tuple[SliverType, bytes]], chunk: int
) -> None:
    framed = [(t, i, d) for i, (t, d) in enumerate(items)]
    frames = framing.SliverFrames(WIDE, "test")
    got = _read(frames, _parts(framed, chunk), frames.fill)
    assert [(s.sliver_type, s.index, bytes(s.buffer.data)) for s in got] == framed
    for s, (_, _, data) in zip(got, framed, strict=True):
        assert len(s.buffer.value) == ROOM + len(data)  # the room, then the bytes: one buffer
        assert s.buffer.value[ROOM:] == data
        assert s.buffer.filled == len(data)


def test_a_sliver_buffer_takes_no_byte_beyond_its_size() -> None:
    buffer = SliverBuffer(4)
    buffer.append(b"ab")
    with pytest.raises(ValueError, match="5 bytes into a sliver buffer of 4"):
        buffer.append(b"cde")
    buffer.append(memoryview(b"cd"))
    assert bytes(buffer.value) == bytes(ROOM) + b"abcd"


@given(st.binary(max_size=3000), st.data(), st.integers(min_value=1, max_value=700))
def test_a_sliver_in_pieces_is_framed_as_the_whole_sliver(
    data: bytes, draw: st.DataObject, chunk: int
) -> None:
    cuts = sorted(draw.draw(st.lists(st.integers(0, len(data)), max_size=8), label="cuts"))
    edges = [0, *cuts, len(data)]
    view = memoryview(data)
    pieces = tuple(view[a:b] for a, b in itertools.pairwise(edges))
    old = framing.CHUNK_SIZE
    framing.CHUNK_SIZE = chunk
    try:
        whole = list(framing.sliver_parts(BLOB, [(SliverType.SECONDARY, 3, data)]))
        cut = list(framing.sliver_parts(BLOB, [(SliverType.SECONDARY, 3, pieces)]))
    finally:
        framing.CHUNK_SIZE = old
    assert cut == whole  # the same messages: the header's size, every chunk full but the last
    assert all(len(p.data) == chunk for p in cut[1:-1])


@given(st.lists(st.binary(max_size=2500), min_size=1, max_size=5))
def test_symbols_come_back_whole(datas: list[bytes]) -> None:
    symbols = [
        RecoverySymbol(SliverType.PRIMARY, i, 3, d, (bytes([i]) * 32,)) for i, d in enumerate(datas)
    ]
    frames = framing.SymbolFrames(WIDE, "test")
    got = [s for part in framing.symbol_parts(symbols) if (s := frames.add(part)) is not None]
    frames.end()
    assert got == symbols


@given(st.lists(st.binary(max_size=2500), min_size=1, max_size=40), st.integers(1, 4000))
def test_grouped_symbol_parts_come_back_whole_in_bounded_messages(
    datas: list[bytes], group_bytes: int
) -> None:
    """GetRecoverySymbolsBatch's stream: the same parts, several to a message, a message
    over ``group_bytes`` only when one part alone is."""
    symbols = [
        RecoverySymbol(SliverType.SECONDARY, i, 7, d, (bytes([i]) * 32,) * 3)
        for i, d in enumerate(datas)
    ]
    messages = list(framing.symbol_part_groups(symbols, group_bytes))
    assert [p for m in messages for p in m.parts] == list(framing.symbol_parts(symbols))
    for m in messages:
        cost = sum(len(p.data) + sum(map(len, p.proof)) + 16 for p in m.parts)
        assert cost <= group_bytes or len(m.parts) == 1
    frames = framing.SymbolFrames(WIDE, "test")
    got = [s for m in messages for p in m.parts if (s := frames.add(p)) is not None]
    frames.end()
    assert got == symbols


def _header(index: int, size: int, sliver_type: int = pb.SLIVER_TYPE_PRIMARY) -> pb.SliverHeader:
    return pb.SliverHeader(blob_id=BLOB, type=sliver_type, index=index, size=size)


def test_a_repeated_sliver_is_refused_at_its_header() -> None:
    frames = framing.SliverFrames(WIDE, "test")
    frames.header(_header(0, 1))
    frames.data(b"x")
    frames.header(_header(0, 1, pb.SLIVER_TYPE_SECONDARY))  # the other type is another sliver
    frames.data(b"y")
    with pytest.raises(errors.InvalidRequest, match="sent twice"):
        frames.header(_header(0, 1))


@pytest.mark.parametrize(
    ("limits", "steps", "error", "message"),
    [
        (WIDE, [("data", 1)], errors.InvalidRequest, "before its header"),
        (WIDE, [("header", 0)], errors.InvalidRequest, "is empty"),
        (WIDE, [("header", 4), ("data", 5)], errors.InvalidRequest, "more than the declared"),
        (WIDE, [("header", 4), ("data", 2), ("header", 4)], errors.InvalidRequest, "ended after"),
        (
            framing.StreamLimits(10, 100, 5),
            [("header", 11)],
            errors.ResourceExhausted,
            "above the limit",
        ),
        (
            framing.StreamLimits(10, 15, 5),
            [("header", 10), ("data", 10), ("header", 6)],
            errors.ResourceExhausted,
            "would exceed 15 bytes",
        ),
        (
            framing.StreamLimits(10, 100, 1),
            [("header", 1), ("data", 1), ("header", 1)],
            errors.ResourceExhausted,
            "more than 1 slivers",
        ),
    ],
)
@pytest.mark.parametrize("way", ["data", "fill"])
def test_breaking_the_framing_or_a_limit_is_refused_at_once(
    limits: framing.StreamLimits,
    steps: list[tuple[str, int]],
    error: type[Exception],
    message: str,
    way: str,
) -> None:
    frames = framing.SliverFrames(limits, "test")
    take = frames.data if way == "data" else frames.fill
    with pytest.raises(error, match=message):
        for index, (kind, n) in enumerate(steps):
            if kind == "header":
                frames.header(_header(index, n))
            else:
                take(b"z" * n)


def test_an_endless_symbol_or_symbol_stream_is_cut_at_its_limit() -> None:
    part = pb.RecoverySymbolPart(source_type=pb.SLIVER_TYPE_PRIMARY, data=b"s" * 10, last=False)
    frames = framing.SymbolFrames(framing.StreamLimits(25, 1000, 100), "test")
    with pytest.raises(errors.ResourceExhausted, match="symbol above 25 bytes"):
        for _ in range(10):
            frames.add(part)
    whole = pb.RecoverySymbolPart(source_type=pb.SLIVER_TYPE_PRIMARY, data=b"s" * 10, last=True)
    frames = framing.SymbolFrames(framing.StreamLimits(25, 45, 100), "test")
    with pytest.raises(errors.ResourceExhausted, match="exceeds 45 bytes"):
        for _ in range(10):
            frames.add(whole)
