"""A blob read as a stream of bytes, whole or a byte range, fetching only what covers it.

Who calls it: :meth:`walrus_node.client.api.WalrusClient.open` builds one; the HTTP
gateway's aggregator (and anything else that wants the first bytes early, or a part of a
large blob) iterates :meth:`BlobStream.chunks`.

Layout: a blob fills the ``rows x columns`` source matrix row-major, so source row ``i``
(primary sliver ``i``, a *systematic* sliver) holds bytes ``[i * R, (i + 1) * R)`` with
``R = columns * symbol_size``, and symbol ``(i, j)`` holds ``[(i * columns + j) * s, ...)``.

**Whole rows.** For every row the range covers entirely, primary sliver ``i`` is fetched
from its owner (the previous owner too during an epoch change) and verified against the
metadata; rows are yielded in order as soon as they and the rows before them are in hand,
so the first bytes leave after the metadata and one sliver. Rows are fetched ahead of the
consumer: ``window`` of them, or as many as fit in ``ahead_bytes`` if that is more (small
rows: a 1 MiB blob at 1000 shards has 334 rows of 3 kB), and never more than fit in
``window_bytes`` (but always one), which bounds memory to those slivers plus the one the
consumer is sending (the next rows are asked for as the consumer takes them, or, when
more than four are ahead, once it has taken half of them). The byte bound matters for
big blobs on few shards, whose rows are a large part of the blob each (a 1 GiB blob on
40 shards has 73 MiB rows). The rows asked for together that one node owns go in one
``GetSlivers`` call (one ``GetSliver`` each from a node that does not know it); a row that
call does not bring is asked of its other owners alone.

**Parts of a row.** Where the range covers only some symbols of a row, the run of those
symbols is asked of the row's owner in one ``GetSliverSymbols`` call: the owner of
primary sliver ``i`` sends symbols ``(i, lo..hi-1)``, each with its Merkle proof against
the sliver's commitment in the metadata; each is verified (:func:`check_run`) and the
run cut. A 1 MiB read out of a large blob moves one or two symbols, not the blob. An
owner that refuses the run as too long (or predates the RPC) is asked for the whole row.

**Fallback.** If a row or symbol cannot be had from any owner, or arrives corrupt, the
stream falls back to a whole read (``read()``: any ``n - 2f`` primary slivers, hedged, and
decoded with the consistency check) and continues from the byte it had reached. In a
ranged stream, a piece that takes too long (an owner that hangs rather than fails;
:data:`HEDGE_SECONDS`) starts that whole read beside it, and the first to finish is
used. A whole-blob stream does not hedge (its hedge would duplicate the read it is
doing): a hung row owner costs it the client's call timeout before the fallback.

**Checks.** Every sliver and symbol is verified against the metadata, and the metadata
against the blob ID. A whole-blob stream also fetches rows past the blob's end and checks
that the padding is zero (the decoder's rule); that check runs after the last data bytes
were yielded, so on failure the stream raises instead of finishing and the consumer must
treat the output as broken (the gateway aborts the response). A ranged stream checks only
the slivers and symbols it fetched, as Walrus's own ranged reads do.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from walrus_node.client.primary_fetch import AskNode, verified_slivers
from walrus_node.codec import errors as codec_errors
from walrus_node.codec import recovery, slivers
from walrus_node.codec.metadata import BlobId, BlobMetadata
from walrus_node.codec.params import SliverType
from walrus_node.codec.symbol import RecoverySymbol
from walrus_node.committee.member import Member
from walrus_node.protocol.committee_file import ActiveCommittees
from walrus_node.protocol.errors import PeerError
from walrus_node.transport.client import NodeClient, RpcError

__all__ = ["BlobStream", "Span", "check_run", "read_owners", "span_of"]

Peer = Callable[[Member], NodeClient]
WholeRead = Callable[[], Awaitable[bytes]]


HEDGE_SECONDS = 2.0
HEDGE_BYTES_PER_SECOND = 20e6
"""A piece (row or run of symbols) not in after ``HEDGE_SECONDS`` plus its size at this
rate starts the whole read beside it; whichever finishes first is used. The defaults
leave a loaded node several times its usual time before a hung owner costs a whole read
(a 17 MiB symbol: 2.9 s)."""

WINDOW_BYTES = 64 << 20
"""Bytes of rows a stream fetches ahead of its consumer at most (but always one row)."""

AHEAD_BYTES = 4 << 20
"""Bytes of rows a stream fetches ahead of its consumer when that is more rows than its
``window``: small rows are asked for many at a time, a call per owning node."""

_ASK_FOR_THE_ROW = frozenset({"RESOURCE_EXHAUSTED", "UNIMPLEMENTED"})
"""Refusals of a run of symbols after which the row's whole sliver is asked for."""


def check_run(
    metadata: BlobMetadata, row: int, lo: int, hi: int, got: Sequence[RecoverySymbol]
) -> None:
    """Raise :class:`codec_errors.InvalidSymbolError` unless ``got`` is exactly source
    symbols ``lo..hi-1`` of primary sliver ``row``, in order, each proven against the
    metadata."""
    if len(got) != hi - lo:
        raise codec_errors.InvalidSymbolError(
            str(SliverType.PRIMARY), row, lo, f"{len(got)} symbols sent, {hi - lo} asked for"
        )
    for column, symbol in enumerate(got, start=lo):
        where = (symbol.source_type, symbol.source_index, symbol.target_index)
        if where != (SliverType.PRIMARY, row, column):
            raise codec_errors.InvalidSymbolError(
                str(symbol.source_type),
                symbol.source_index,
                symbol.target_index,
                f"not symbol {column} of primary sliver {row}",
            )
        recovery.verify_symbol(metadata, symbol)


class _Unavailable(Exception):
    """No owner returned a verified piece; the stream falls back to a whole read."""


@dataclasses.dataclass(frozen=True)
class Span:
    """What a byte range ``[start, end)`` needs: whole rows and single symbols, in order.

    ``pieces`` lists ``(row, first_symbol, last_symbol_exclusive)``; a piece covering all
    ``columns`` symbols is fetched as the whole primary sliver.
    """

    start: int
    end: int
    pieces: tuple[tuple[int, int, int], ...]


def span_of(metadata: BlobMetadata, start: int, end: int) -> Span:
    """The rows and symbols that hold bytes ``[start, end)`` (pure arithmetic)."""
    length = metadata.unencoded_length
    if not 0 <= start <= end <= length:
        raise ValueError(f"range [{start}, {end}) is not within the blob's {length} bytes")
    params, s = metadata.params, metadata.symbol_size
    cols = params.columns
    if start == end:
        return Span(start, end, ())
    first, last = start // s, (end - 1) // s
    pieces = []
    for row in range(first // cols, last // cols + 1):
        lo = max(first, row * cols) - row * cols
        hi = min(last, row * cols + cols - 1) - row * cols + 1
        pieces.append((row, lo, hi))
    return Span(start, end, tuple(pieces))


def read_owners(c: ActiveCommittees, shard: int) -> list[Member]:
    """Who may hold a shard now, most likely first: during an epoch change the previous
    owner keeps it until the new owner reports done."""
    current = c.current.owner(shard)
    if c.previous is None:
        return [current]
    previous = c.previous.owner(shard)
    if previous.name == current.name:
        return [current]
    if current.name in c.state.sync_done:
        return [current, previous]
    return [previous, current]


class BlobStream:
    """One blob's bytes, as verified chunks in order; see the module docstring."""

    def __init__(
        self,
        blob_id: BlobId,
        metadata: BlobMetadata,
        committees: ActiveCommittees,
        peer: Peer,
        whole_read: WholeRead,
        ask: AskNode,
        *,
        window: int = 2,
        window_bytes: int = WINDOW_BYTES,
        ahead_bytes: int = AHEAD_BYTES,
        hedge_seconds: float = HEDGE_SECONDS,
        hedge_bytes_per_second: float = HEDGE_BYTES_PER_SECOND,
    ) -> None:
        """``peer``: a member's client (symbols, and a row asked of one owner alone);
        ``ask``: primary slivers from a member, several in one call."""
        if window < 1:
            raise ValueError("window: must be at least 1")
        self._hedge = (hedge_seconds, hedge_bytes_per_second)
        self._whole: asyncio.Future[bytes] | None = None
        self.blob_id = blob_id
        self.metadata = metadata
        self.problems: list[str] = []
        self.fell_back = False
        self._committees = committees
        self._peer = peer
        self._ask = ask
        self._whole_read = whole_read
        self._calls: set[asyncio.Task[None]] = set()
        """``GetSlivers`` calls under way, each filling its rows' futures."""
        row_bytes = max(metadata.params.columns * metadata.symbol_size, 1)
        ahead = max(window, ahead_bytes // row_bytes)
        self._window = max(1, min(ahead, window_bytes // row_bytes))

    @property
    def length(self) -> int:
        return self.metadata.unencoded_length

    def _owners(self, row: int) -> list[Member]:
        params = self.metadata.params
        shard = params.shard_of_pair(self.blob_id.raw, params.pair_of(SliverType.PRIMARY, row))
        return read_owners(self._committees, shard)

    def _ask_rows(self, rows: Sequence[int]) -> dict[int, asyncio.Future[bytes]]:
        """Rows from their first owners, those of one node in one call: each row's
        future is its bytes (not yet verified), or the call's error. A row alone on its
        node gets no future: it is asked for by itself (``GetSliver``)."""
        loop = asyncio.get_running_loop()
        by_member: dict[str, tuple[Member, list[int]]] = {}
        for row in rows:
            member = self._owners(row)[0]
            by_member.setdefault(member.name, (member, []))[1].append(row)
        futures: dict[int, asyncio.Future[bytes]] = {}
        for member, asked in by_member.values():
            if len(asked) == 1:
                continue
            futures.update((row, loop.create_future()) for row in asked)
            call = asyncio.create_task(self._call(member, asked, futures))
            self._calls.add(call)
            call.add_done_callback(self._calls.discard)
        return futures

    async def _call(
        self, member: Member, rows: list[int], futures: dict[int, asyncio.Future[bytes]]
    ) -> None:
        """Fill ``futures`` from one call to ``member``: each row verified (the call's
        rows together, :func:`.primary_fetch.verified_slivers`), or the call's error;
        after a corrupt row the call is not waited on. The task itself never fails: its
        error reaches the rows' readers (a :class:`PeerError` makes them ask the rows'
        other owners; anything else is a fault, raised to the reader)."""
        failure: BaseException = PeerError(f"{member.name}: primary slivers not sent")
        try:
            async for batch in verified_slivers(self._ask(member, rows), self.metadata):
                for row, data in batch:
                    if not futures[row].done():
                        futures[row].set_result(data)
        except codec_errors.InvalidSliverError as e:
            bad = futures.get(e.index)
            if bad is not None and not bad.done():
                bad.set_exception(e)
                bad.exception()
            failure = PeerError(f"{member.name}: not waited on after a corrupt sliver")
        except asyncio.CancelledError:
            failure = asyncio.CancelledError()
            raise
        except Exception as e:  # the node's failure (PeerError), or a fault to surface
            failure = e
        finally:
            for row in rows:
                future = futures[row]
                if future.done():
                    continue
                if isinstance(failure, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(failure)
                    future.exception()  # a row given up on need not await it

    async def _row(self, row: int, first: asyncio.Future[bytes] | None = None) -> bytes:
        """Primary sliver ``row``, verified, from the first owner that has it (from the
        first owner's share of a ``GetSlivers`` call, ``first``, verified there, when it
        was asked that way)."""
        for i, member in enumerate(self._owners(row)):
            try:
                if i == 0 and first is not None:
                    return await first
                data = await self._peer(member).get_sliver(
                    self.blob_id.raw, SliverType.PRIMARY, row
                )
                await asyncio.to_thread(
                    slivers.verify_sliver, self.metadata, SliverType.PRIMARY, row, data
                )
                return data
            except codec_errors.InvalidSliverError as e:
                self.problems.append(f"{member.name}: returned a corrupt sliver: {e}")
            except PeerError as e:
                self.problems.append(f"{member.name}: primary sliver {row}: {e}")
        raise _Unavailable

    async def _symbols(self, row: int, lo: int, hi: int) -> bytes:
        """Source symbols ``lo..hi-1`` of ``row``, in one ``GetSliverSymbols`` call to the
        row's owner, each checked against the metadata, concatenated. An owner that refuses
        a run this long (its ``max_symbol_read_bytes``) or does not serve symbols gets asked
        for the whole row instead."""
        s = self.metadata.symbol_size
        for member in self._owners(row):
            try:
                got = await self._peer(member).get_sliver_symbols(
                    self.blob_id.raw, row, lo, hi - lo
                )
                await asyncio.to_thread(check_run, self.metadata, row, lo, hi, got)
                return b"".join(symbol.data for symbol in got)
            except codec_errors.InvalidSymbolError as e:
                self.problems.append(f"{member.name}: returned a corrupt symbol: {e}")
            except RpcError as e:
                self.problems.append(f"{member.name}: symbols {lo}..{hi - 1} of row {row}: {e}")
                if e.code in _ASK_FOR_THE_ROW:
                    return (await self._row(row))[lo * s : hi * s]
            except PeerError as e:
                self.problems.append(f"{member.name}: symbols {lo}..{hi - 1} of row {row}: {e}")
        raise _Unavailable

    def _start(self, pieces: Sequence[tuple[int, int, int]]) -> list[asyncio.Task[bytes]]:
        """A task for each piece, in order; the whole rows among them asked for together."""
        cols = self.metadata.params.columns
        rows = self._ask_rows([row for row, lo, hi in pieces if hi - lo == cols])
        return [
            asyncio.create_task(
                self._row(row, rows.get(row)) if hi - lo == cols else self._symbols(row, lo, hi)
            )
            for row, lo, hi in pieces
        ]

    async def chunks(self, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``[start, end)`` (default: the whole blob), in order, verified."""
        end = self.length if end is None else end
        span = span_of(self.metadata, start, end)
        whole = start == 0 and end == self.length
        s, cols = self.metadata.symbol_size, self.metadata.params.columns
        pieces = list(span.pieces)
        if whole:  # every row, whole: the padding after the data is checked too
            pieces = [(r, 0, cols) for r in range(self.metadata.params.rows)]
        position = start
        tasks: list[asyncio.Task[bytes]] = []
        started = 0  # pieces given a task
        # more rows are asked for once this many are taken: at once with a few big rows
        # ahead, half of them at a time with many small ones (one call per owner)
        refill = self._window // 2 if self._window > 4 else 1
        try:
            for row, lo, hi in pieces:
                if self._window - len(tasks) >= refill:
                    more = pieces[started : started + self._window - len(tasks)]
                    tasks += self._start(more)
                    started += len(more)
                task = tasks.pop(0)
                try:
                    if whole:  # the hedge would be the same whole read, duplicated
                        data = await task
                    else:
                        data = await self._piece_or_hedge(task, row, (hi - lo) * s)
                except _Unavailable:
                    self.fell_back = True
                    async for chunk in self._fallback(position, end):
                        yield chunk
                    return
                base = (row * cols + lo) * s
                cut_from = max(position, base) - base
                cut_to = min(end, base + len(data)) - base
                tail = max(cut_to, 0)
                if whole and data.count(0, tail) != len(data) - tail:
                    raise codec_errors.InconsistentEncodingError(
                        "padding after the blob's length is not zero"
                    )
                if cut_to > cut_from:
                    yield data[cut_from:cut_to] if (cut_from, cut_to) != (0, len(data)) else data
                    position = base + cut_to
                del data  # a row written out is not held while the next one arrives
        finally:
            waiting: list[asyncio.Future[Any]] = [*tasks, *self._calls]
            if self._whole is not None:
                waiting.append(self._whole)
                self._whole = None
            for future in waiting:
                future.cancel()
            await asyncio.gather(*waiting, return_exceptions=True)

    async def _piece_or_hedge(self, task: asyncio.Task[bytes], row: int, size: int) -> bytes:
        """The piece, unless it takes longer than its hedge delay and the whole read
        started then finishes first (``_Unavailable``: the caller reads on from it)."""
        seconds, rate = self._hedge
        delay = seconds + size / rate
        done, _ = await asyncio.wait({task}, timeout=delay)
        if done:
            return task.result()
        self.problems.append(f"row {row}: {size} bytes not in after {delay:.1f} s")
        if self._whole is None:
            self._whole = asyncio.ensure_future(self._whole_read())
        whole = self._whole
        await asyncio.wait({task, whole}, return_when=asyncio.FIRST_COMPLETED)
        if task.done() or whole.exception() is not None:
            return await task  # the piece came first, or is all that is left
        task.cancel()
        raise _Unavailable

    async def _fallback(self, position: int, end: int) -> AsyncIterator[bytes]:
        whole, self._whole = self._whole, None
        data = await (whole if whole is not None else self._whole_read())
        if end > position:
            yield data[position:end]
