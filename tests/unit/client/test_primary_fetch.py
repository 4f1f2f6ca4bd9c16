"""A read's primary slivers: those of one node asked for in one call, the slivers a node
fails to give or gives corrupt asked of their other owners, the read done with every
verified sliver it needs whatever a minority of nodes does."""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from walrus_node.client.primary_fetch import PrimaryFetch
from walrus_node.codec import encoder, slivers
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.protocol.errors import PeerError

N = 10
BLOB = encoder.encode(os.urandom(20_000), N)


@dataclasses.dataclass(frozen=True)
class Node:
    name: str


NODES = [Node(f"node-{i}") for i in range(5)]


def _owners(index: int) -> list[Node]:
    """Two owners of each sliver: node i % 5 first, then the next node."""
    return [NODES[index % 5], NODES[(index + 1) % 5]]


class Network:
    """Nodes answering from the encoded blob; ``down`` ones fail at once, ``liars`` flip
    a bit of every sliver they give from their ``after``-th on, ``cut`` ones fail after
    giving ``after`` slivers."""

    def __init__(
        self, down: set[str], liars: set[str], cut: frozenset[str] = frozenset(), after: int = 0
    ) -> None:
        self.down, self.liars, self.cut, self.after = down, liars, cut, after
        self.calls: list[tuple[str, list[int]]] = []

    async def ask(self, member: Node, indices: list[int]) -> AsyncIterator[tuple[int, bytes]]:
        self.calls.append((member.name, list(indices)))
        if member.name in self.down:
            raise PeerError(f"{member.name} is down")
        for count, index in enumerate(indices):
            if member.name in self.cut and count == self.after:
                raise PeerError(f"{member.name} went down")
            data = bytearray(BLOB.primary(index))
            if member.name in self.liars and count >= self.after:
                data[0] ^= 1
            await asyncio.sleep(0)
            yield index, bytes(data)


async def _fetching(
    network: Network, owners: Callable[[int], list[Node]] = _owners
) -> tuple[dict[int, bytes], list[str]]:
    metadata: asyncio.Future[BlobMetadata] = asyncio.get_running_loop().create_future()
    metadata.set_result(BLOB.metadata)
    problems: list[str] = []
    fetch = PrimaryFetch(
        EncodingParams(N),
        owners,
        metadata,
        network.ask,
        problems,  # type: ignore[arg-type]
    )
    return await fetch.run(), problems


def _fetch(
    network: Network, owners: Callable[[int], list[Node]] = _owners
) -> tuple[dict[int, bytes], list[str]]:
    return asyncio.run(_fetching(network, owners))


def test_the_systematic_slivers_of_one_node_are_asked_for_in_one_call() -> None:
    network = Network(set(), set())
    verified, problems = _fetch(network)
    rows = EncodingParams(N).rows
    assert sorted(verified) == list(range(rows)) and problems == []
    assert {i: bytes(BLOB.primary(i)) for i in range(rows)} == verified
    asked = [name for name, _ in network.calls]
    assert len(asked) == len(set(asked))  # one call per node
    assert sorted(i for _, indices in network.calls for i in indices) == list(range(rows))


@settings(max_examples=30, deadline=None)
@given(
    down=st.sets(st.sampled_from([n.name for n in NODES]), max_size=1),
    liars=st.sets(st.sampled_from([n.name for n in NODES]), max_size=1),
)
def test_slivers_a_node_fails_or_corrupts_are_asked_of_their_other_owners(
    down: set[str], liars: set[str]
) -> None:
    network = Network(down, liars - down)
    verified, problems = _fetch(network)
    rows = EncodingParams(N).rows
    assert len(verified) >= rows
    assert all(bytes(BLOB.primary(i)) == data for i, data in verified.items())
    asked = {name for name, _ in network.calls}
    for name in down & asked:
        assert any(p.startswith(f"{name}: primary slivers") for p in problems)
    for name in (liars - down) & asked:
        assert any(p.startswith(f"{name}: returned a corrupt sliver") for p in problems)
    # no sliver is asked of the same node twice
    pairs = [(name, i) for name, indices in network.calls for i in indices]
    assert len(pairs) == len(set(pairs))


def test_a_calls_slivers_are_verified_together(monkeypatch: pytest.MonkeyPatch) -> None:
    batches: list[list[int]] = []
    verify = slivers.verify_slivers

    def counted(metadata: BlobMetadata, sliver_type: SliverType, items: Any) -> None:
        batches.append([index for index, _ in items])
        verify(metadata, sliver_type, items)

    monkeypatch.setattr(slivers, "verify_slivers", counted)
    network = Network(set(), set())
    verified, _ = _fetch(network)
    assert sorted(verified) == list(range(EncodingParams(N).rows))
    # small slivers: one verification (one hop to a thread) per node's call
    assert sorted(batches) == sorted(indices for _, indices in network.calls)


@pytest.mark.parametrize("fault", ["cut", "liar"])
def test_the_slivers_a_node_gave_before_failing_or_lying_count(fault: str) -> None:
    node = NODES[0].name
    if fault == "cut":
        network = Network(set(), set(), cut=frozenset({node}), after=1)
    else:
        network = Network(set(), {node}, after=1)
    # node-0 first owns every sliver, node-1 next
    verified, problems = _fetch(network, lambda index: [NODES[0], NODES[1]])
    assert len(verified) >= EncodingParams(N).rows
    assert all(bytes(BLOB.primary(i)) == data for i, data in verified.items())
    (first, first_call), *later = network.calls
    given, *rest = first_call
    assert first == node and rest  # the node was asked for more than one
    assert given in verified
    # the sliver it gave well is not asked for again (others are, from any owner)
    assert given not in [i for _, indices in later for i in indices]
    expected = "went down" if fault == "cut" else "returned a corrupt sliver"
    assert any(p.startswith(node) and expected in p for p in problems)


def test_a_fault_in_a_call_ends_the_read_and_leaves_no_failed_task() -> None:
    """An error other than a node's failure is raised to the reader, not counted as a
    node's problem, and no failed task is left with no one to look at its error."""
    network = Network(set(), set())

    async def faulty(member: Node, indices: list[int]) -> AsyncIterator[tuple[int, bytes]]:
        raise RuntimeError("a fault")
        yield  # an async generator

    network.ask = faulty  # type: ignore[method-assign]
    unhandled: list[dict[str, Any]] = []

    async def go() -> None:
        asyncio.get_running_loop().set_exception_handler(lambda _, c: unhandled.append(c))
        with pytest.raises(RuntimeError, match="a fault"):
            await _fetching(network)
        await asyncio.sleep(0)
        gc.collect()

    asyncio.run(go())
    assert unhandled == []
