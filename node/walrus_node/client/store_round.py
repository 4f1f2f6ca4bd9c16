"""One blob's store round: its upload to every shard owner and its certificate, pipelined
node by node.

Who calls it: :meth:`walrus_node.client.api.WalrusClient.store`, once per blob.

Each member of the committee gets one task: upload to it (a member owning shards: its
slivers, checked confirmation back), then hand it the certificate. The certificate is
formed the moment confirmations cover ``n - f`` shards, not after the slowest node: a
member that confirmed by then is sent it at once, a later one right after its own upload,
and one whose upload failed (or that owns no shard) as soon as it exists, so that it
recovers its slivers from its peers. The round is **certified** once members holding
``n - f`` shards accepted the certificate; :meth:`StoreRound.wait` returns then (or when
every task is over, whichever comes first).

The other tasks, a slow node still uploading or certifying, are the round's *tail*:
:meth:`StoreRound.settle` waits for them for a grace period (half the time the round took,
at least :data:`MIN_GRACE_SECONDS`) and then cancels the uploads still under way, whose
nodes recover from the certificate their peers hold. The client settles a round before
its store returns, so nothing of a store is still in flight when the caller goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

from walrus_node.committee.member import Member
from walrus_node.protocol.committee_file import ActiveCommittees
from walrus_node.protocol.messages import Certificate, Confirmation

__all__ = ["MIN_GRACE_SECONDS", "StoreRound"]

MIN_GRACE_SECONDS = 2.0
"""Least time a round's tail is given once the certificate has a quorum. The tail costs
nothing when every node keeps pace (the store returns as soon as the last one is done);
it bounds how long a stalled node can hold a store up. A node cut off learns the blob
later from its peers, and a delete of the blob sent before then does not reach it (it
finds the deleting owner's registration still there): so the grace is long enough for a
node that is merely slow on a busy machine, not only for one that keeps pace."""

Upload = Callable[[Member], Awaitable[Confirmation]]
"""Uploads a member's slivers and returns its checked confirmation."""
Submit = Callable[[Member, Certificate], Awaitable[object]]
"""Hands a member the certificate; raises if it does not accept it."""


class StoreRound:
    def __init__(
        self,
        committees: ActiveCommittees,
        quorum: int,
        upload: Upload,
        submit: Submit,
    ) -> None:
        self._committee = committees.current
        self._quorum = quorum
        self._upload = upload
        self._submit = submit
        self.confirmations: list[Confirmation] = []
        self.problems: list[str] = []
        """What went wrong, one line per node and step, as it happened."""
        self.certified_by = 0
        """Members that accepted the certificate."""
        self.certificate: Certificate | None = None
        self.timings: dict[str, float] = {}
        """``upload``: until the certificate was formed; ``certify``: from then on
        until :meth:`wait` returned."""
        self._formed: asyncio.Future[Certificate | None] = (
            asyncio.get_running_loop().create_future()
        )
        self._accepted_weight = 0
        self._certified = asyncio.Event()
        self._over = asyncio.Event()
        self._tasks: dict[asyncio.Task[None], Member] = {}
        self._certifying: set[str] = set()
        """Members past their upload, being handed the certificate."""
        self._uploading = 0
        self._started = time.perf_counter()
        self._waited = 0.0

    def start(self) -> None:
        members = self._committee.members
        self._uploading = sum(1 for m in members if m.shards)
        if self._uploading == 0:
            self._formed.set_result(None)
        self._tasks = {asyncio.create_task(self._one(m)): m for m in members}

    def weight(self) -> int:
        """Shards covered by the confirmations so far."""
        return sum(self._committee.shard_count_of(c.signer) for c in self.confirmations)

    async def _one(self, member: Member) -> None:
        try:
            if member.shards:
                await self._upload_one(member)
            certificate = await asyncio.shield(self._formed)
            if certificate is None:
                return
            self._certifying.add(member.name)
            try:
                await self._submit(member, certificate)
            except Exception as e:  # any failure of one node is a problem, not the end
                self.problems.append(f"{member.name}: certificate not accepted: {e}")
                return
            self.certified_by += 1
            self._accepted_weight += self._committee.shard_count_of(member.public_key)
            if self._accepted_weight >= self._quorum:
                self._certified.set()
        finally:
            if all(t.done() or t is asyncio.current_task() for t in self._tasks):
                self._over.set()

    async def _upload_one(self, member: Member) -> None:
        try:
            confirmation = await self._upload(member)
        except Exception as e:  # a node's failure: reported, the others may still do
            self.problems.append(f"{member.name}: {e}")
        else:
            self.confirmations.append(confirmation)
            if not self._formed.done() and self.weight() >= self._quorum:
                self.certificate = Certificate.from_confirmations(self.confirmations)
                self.timings["upload"] = time.perf_counter() - self._started
                self._formed.set_result(self.certificate)
        finally:
            self._uploading -= 1
            if self._uploading == 0 and not self._formed.done():
                self.timings["upload"] = time.perf_counter() - self._started
                self._formed.set_result(None)  # no quorum: nothing to certify

    async def wait(self) -> None:
        """Return once the certificate is accepted by members holding ``n - f`` shards,
        or every task is over (then see :attr:`certificate` and :attr:`certified_by`)."""
        waiters = [asyncio.ensure_future(e.wait()) for e in (self._certified, self._over)]
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
            await asyncio.gather(*waiters, return_exceptions=True)
        self._waited = time.perf_counter() - self._started
        if "upload" in self.timings:
            self.timings["certify"] = self._waited - self.timings["upload"]

    def pending(self) -> Sequence[str]:
        """Names of the members whose upload or certificate is still under way."""
        return [m.name for t, m in self._tasks.items() if not t.done()]

    async def settle(self, grace: float | None = None) -> list[str]:
        """Wait for the tail ``grace`` seconds (by default half the time
        :meth:`wait` took, at least :data:`MIN_GRACE_SECONDS`), then cancel the uploads
        still under way (a node being handed the certificate is waited for: one small
        call, bounded by the RPC timeout); returns the problems of the tail (those
        of nodes cancelled included), which are also added to :attr:`problems`."""
        seen = len(self.problems)
        running = [t for t in self._tasks if not t.done()]
        if running:
            if grace is None:
                grace = max(MIN_GRACE_SECONDS, 0.5 * self._waited)
            _, late = await asyncio.wait(running, timeout=grace)
            for task in late:
                name = self._tasks[task].name
                if name not in self._certifying:
                    task.cancel()
                    self.problems.append(f"{name}: still uploading after the grace period")
            await asyncio.gather(*late, return_exceptions=True)
        return self.problems[seen:]

    def cancel(self) -> None:
        """Stop every task now (the caller is being cancelled)."""
        for task in self._tasks:
            task.cancel()
