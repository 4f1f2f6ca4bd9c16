"""A store round: the certificate at n - f confirmations, the store's return at n - f
acceptances, and what happens to the nodes still busy then."""

from __future__ import annotations

import asyncio

from walrus_node.client import store_round
from walrus_node.committee import epoch, selection
from walrus_node.committee.member import Member, NodeCandidate
from walrus_node.protocol import committee_file, keys, messages
from walrus_node.protocol.messages import BlobRegistration, Certificate, Confirmation

BLOB = bytes(range(32))
REGISTRATION = BlobRegistration(end_epoch=3, deletable=False, unencoded_length=10)


def _network() -> tuple[committee_file.ActiveCommittees, dict[str, keys.KeyPair]]:
    pairs = {f"n{i}": keys.KeyPair.generate() for i in range(7)}
    candidates = [
        NodeCandidate(name=name, public_key=kp.public_key, endpoint="127.0.0.1:1", stake=100)
        for name, kp in pairs.items()
    ]
    first = selection.select(candidates, 7, epoch=1).committee
    return committee_file.ActiveCommittees(epoch.EpochState.genesis(first)), pairs


class Nodes:
    """Seven nodes as the round sees them: each answers at once unless held."""

    def __init__(self) -> None:
        self.committees, self.pairs = _network()
        self.held: dict[str, asyncio.Event] = {}
        self.failing: set[str] = set()
        self.certified: list[str] = []
        self.slow_certify: dict[str, asyncio.Event] = {}

    async def upload(self, member: Member) -> Confirmation:
        if member.name in self.held:
            await self.held[member.name].wait()
        if member.name in self.failing:
            raise RuntimeError("refused")
        kp = self.pairs[member.name]
        message = messages.confirmation_message(1, BLOB, REGISTRATION)
        return Confirmation(1, BLOB, REGISTRATION, kp.public_key, kp.sign(message))

    async def submit(self, member: Member, certificate: Certificate) -> object:
        if member.name in self.slow_certify:
            await self.slow_certify[member.name].wait()
        self.certified.append(member.name)
        return None

    def round(self) -> store_round.StoreRound:
        return store_round.StoreRound(self.committees, 5, self.upload, self.submit)


def test_the_store_returns_at_n_minus_f_acceptances_while_a_held_node_uploads() -> None:
    async def go() -> None:
        nodes = Nodes()
        nodes.held["n6"] = asyncio.Event()
        r = nodes.round()
        r.start()
        await asyncio.wait_for(r.wait(), 10)
        assert r.certificate is not None and len(r.certificate.signatures) >= 5
        assert r.certified_by >= 5 and "n6" in r.pending()
        nodes.held["n6"].set()  # resumed: it gets its upload and the certificate through
        assert await r.settle(grace=10) == []
        assert sorted(nodes.certified) == [f"n{i}" for i in range(7)]

    asyncio.run(go())


def test_settling_cancels_an_upload_still_under_way_after_the_grace() -> None:
    async def go() -> None:
        nodes = Nodes()
        nodes.held["n6"] = asyncio.Event()  # never resumed
        r = nodes.round()
        r.start()
        await asyncio.wait_for(r.wait(), 10)
        late = await r.settle(grace=0.05)
        assert late == ["n6: still uploading after the grace period"]
        assert late[0] in r.problems and r.pending() == []
        assert "n6" not in nodes.certified

    asyncio.run(go())


def test_settling_waits_for_a_node_being_handed_the_certificate() -> None:
    async def go() -> None:
        nodes = Nodes()
        gate = nodes.slow_certify["n6"] = asyncio.Event()
        r = nodes.round()
        r.start()
        await asyncio.wait_for(r.wait(), 10)
        assert "n6" in r.pending()
        asyncio.get_running_loop().call_later(0.2, gate.set)  # after the grace
        assert await r.settle(grace=0.01) == []
        assert "n6" in nodes.certified

    asyncio.run(go())


def test_without_n_minus_f_confirmations_there_is_no_certificate_and_nothing_is_sent() -> None:
    async def go() -> None:
        nodes = Nodes()
        nodes.failing = {"n0", "n1", "n2"}
        r = nodes.round()
        r.start()
        await asyncio.wait_for(r.wait(), 10)
        assert r.certificate is None and r.weight() == 4
        assert nodes.certified == [] and r.pending() == []
        assert sorted(p.split(":")[0] for p in r.problems) == ["n0", "n1", "n2"]

    asyncio.run(go())


def test_a_node_whose_upload_failed_is_still_handed_the_certificate() -> None:
    async def go() -> None:
        nodes = Nodes()
        nodes.failing = {"n3"}
        r = nodes.round()
        r.start()
        await asyncio.wait_for(r.wait(), 10)
        await r.settle(grace=10)
        assert "n3" in nodes.certified  # it recovers its slivers from its peers
        assert r.problems == ["n3: refused"]

    asyncio.run(go())
