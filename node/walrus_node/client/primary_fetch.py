"""A read's primary slivers: asked for, node by node, and verified until enough are in.

Who calls it: :meth:`walrus_node.client.api.WalrusClient.read` (through ``_read_slivers``),
once per read, with a way to ask one node for some slivers (``GetSlivers``, or one
``GetSliver`` each from a node that does not know it).

How: the systematic slivers (decoding them is a copy) are asked for first, in random
order among them, each from its shard's first owner, those of one node in one call (at
1000 shards a read asks each of ten nodes for ~34 slivers of a few kB: a call each cost
more than the slivers); then the others, then the other owners of each. More are asked
for whenever slivers fail, and one more whenever nothing completed for a while (a slow
node), so a slow or lying minority costs latency, not success. A sliver that arrives
before the metadata waits for it, and is verified against it before it counts (the small
slivers of one call together, :data:`VERIFY_BATCH_BYTES`); a node that sent one corrupt
sliver is not waited on for the rest of its call (they are asked of their other owners).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Callable, Sequence

from walrus_node.codec import errors as codec_errors
from walrus_node.codec import slivers
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.committee.member import Member
from walrus_node.protocol.errors import PeerError
from walrus_node.transport.client import NodeClient, RpcError

__all__ = ["VERIFY_BATCH_BYTES", "AskNode", "PrimaryFetch", "slivers_of", "verified_slivers"]

AskNode = Callable[[Member, list[int]], AsyncIterator[tuple[int, bytes]]]
"""Primary slivers ``indices`` from a node, each ``(index, bytes)`` once complete; its
:class:`PeerError` after the slivers it gave."""


async def slivers_of(
    client: NodeClient,
    blob_id: bytes,
    indices: list[int],
    progress: Callable[[int], None] | None = None,
) -> AsyncIterator[tuple[int, bytes]]:
    """Primary slivers ``indices`` from a node: in one ``GetSlivers`` call, or one
    ``GetSliver`` call each from a node that does not know it (an :data:`AskNode`)."""
    try:
        async for item in client.get_slivers(blob_id, SliverType.PRIMARY, indices, progress):
            yield item
        return
    except RpcError as e:
        if e.code != "UNIMPLEMENTED":
            raise
    for index in indices:
        yield index, await client.get_sliver(blob_id, SliverType.PRIMARY, index, progress)


VERIFY_BATCH_BYTES = 1 << 20
"""The slivers of one node's call are verified together (one native call, one hop to a
worker thread) once they reach this many bytes, and at the call's end: at 1000 shards a
read's ~334 slivers of ~3 kB cost ~10 hops, not 334; a sliver this big or bigger is
verified as soon as it is in."""


async def verified_slivers(
    got: AsyncIterator[tuple[int, bytes]],
    metadata: BlobMetadata | asyncio.Future[BlobMetadata],
) -> AsyncIterator[list[tuple[int, bytes]]]:
    """The primary slivers of one node's call (an :data:`AskNode`'s answer), verified
    together in batches of :data:`VERIFY_BATCH_BYTES` (and at the call's end), one native
    call on a worker thread each; each batch once verified. The first corrupt sliver
    raises :class:`codec_errors.InvalidSliverError` after the slivers before it, and the
    call's :class:`PeerError` comes after the slivers it gave."""
    batch: list[tuple[int, bytes]] = []
    size = 0
    failure: Exception | None = None
    try:
        async for index, data in got:
            batch.append((index, data))
            size += len(data)
            if size >= VERIFY_BATCH_BYTES:
                good, corrupt = await _verify(batch, metadata)
                if good:
                    yield good
                if corrupt is not None:
                    raise corrupt
                batch, size = [], 0
    except PeerError as e:
        failure = e  # the slivers that came before it still count
    if batch:
        good, corrupt = await _verify(batch, metadata)
        if good:
            yield good
        failure = corrupt or failure
    if failure is not None:
        raise failure


async def _verify(
    batch: list[tuple[int, bytes]], metadata: BlobMetadata | asyncio.Future[BlobMetadata]
) -> tuple[list[tuple[int, bytes]], codec_errors.InvalidSliverError | None]:
    """The slivers of ``batch`` up to the first corrupt one, and its error."""
    known = metadata if isinstance(metadata, BlobMetadata) else await asyncio.shield(metadata)
    try:
        await asyncio.to_thread(slivers.verify_slivers, known, SliverType.PRIMARY, batch)
    except codec_errors.InvalidSliverError as e:
        good = next((i for i, (index, _) in enumerate(batch) if index == e.index), 0)
        return batch[:good], e
    return batch, None


HEDGE_FIRST_SECONDS = 1.0
"""Without a call completing for this long, one more sliver is asked for (then after
twice as long, up to :data:`HEDGE_MAX_SECONDS`)."""
HEDGE_MAX_SECONDS = 10.0


def _shown(indices: Sequence[int]) -> str:
    shown = ", ".join(map(str, indices[:8]))
    return shown + (f" and {len(indices) - 8} more" if len(indices) > 8 else "")


class PrimaryFetch:
    def __init__(
        self,
        params: EncodingParams,
        owners: Callable[[int], Sequence[Member]],
        metadata: asyncio.Future[BlobMetadata],
        ask_node: AskNode,
        problems: list[str],
    ) -> None:
        """``owners(index)``: the nodes that can give primary sliver ``index``, the
        preferred one first."""
        self.need = params.rows
        self._metadata = metadata
        self._ask_node = ask_node
        self.problems = problems
        queue: list[tuple[int, Member]] = []
        fallback: list[tuple[int, Member]] = []
        for index in range(params.n_shards):
            first, *others = owners(index)
            queue.append((index, first))
            fallback.extend((index, m) for m in others)
        queue.sort(key=lambda item: (item[0] >= params.rows, random.random()))
        self._queue = queue + fallback
        self.verified: dict[int, bytes] = {}
        self._asked: set[int] = set()
        """Indices asked for and neither verified nor failed yet."""
        self._pending: set[asyncio.Task[None]] = set()

    async def run(self) -> dict[int, bytes]:
        """Verified primary slivers by index: at least ``need`` of them unless the queue
        ran out first."""
        self._top_up()
        hedge_after = HEDGE_FIRST_SECONDS
        try:
            while len(self.verified) < self.need and self._pending:
                done, _ = await asyncio.wait(
                    self._pending, timeout=hedge_after, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    self._ask(self._next_entries(1))
                    hedge_after = min(hedge_after * 2, HEDGE_MAX_SECONDS)
                self._pending.difference_update(done)
                # A node's failure is a problem (``_fetch``); anything else is a fault
                # that ends the read, each failed task's error looked at.
                faults = [e for task in done if (e := task.exception()) is not None]
                if faults:
                    raise faults[0]
                self._top_up()
        finally:
            for task in self._pending:
                task.cancel()
            await asyncio.gather(*self._pending, return_exceptions=True)
        return self.verified

    def _top_up(self) -> None:
        self._ask(self._next_entries(self.need - len(self.verified) - len(self._asked)))

    def _next_entries(self, count: int) -> list[tuple[int, Member]]:
        """Up to ``count`` queue entries for slivers neither verified nor being asked for
        (another owner of one being asked for stays in the queue, in its place)."""
        taken: list[tuple[int, Member]] = []
        waiting: list[tuple[int, Member]] = []
        chosen: set[int] = set()
        queue = self._queue
        while queue and len(taken) < count:
            index, member = queue.pop(0)
            if index in self.verified:
                continue
            if index in self._asked or index in chosen:
                waiting.append((index, member))
            else:
                taken.append((index, member))
                chosen.add(index)
        queue[:0] = waiting
        return taken

    def _ask(self, entries: list[tuple[int, Member]]) -> None:
        by_member: dict[str, tuple[Member, list[int]]] = {}
        for index, member in entries:
            by_member.setdefault(member.name, (member, []))[1].append(index)
            self._asked.add(index)
        for member, indices in by_member.values():
            self._pending.add(asyncio.create_task(self._fetch(member, indices)))

    async def _fetch(self, member: Member, indices: list[int]) -> None:
        try:
            async for batch in verified_slivers(self._ask_node(member, indices), self._metadata):
                for index, data in batch:
                    self.verified[index] = data
                    self._asked.discard(index)
        except codec_errors.InvalidSliverError as e:
            self.problems.append(f"{member.name}: returned a corrupt sliver: {e}")
        except PeerError as e:
            self.problems.append(f"{member.name}: primary slivers {_shown(indices)}: {e}")
        finally:
            self._asked.difference_update(indices)
