"""A lying peer relays deletions: forged, altered, of someone else's key, or an owner's old
deletion replayed against a registration certified again later. Nothing is deleted but
what the owner really deleted.

A real node process (plaintext testbed; what is attacked is what deletion catch-up
accepts, not the transport) and :class:`Liar`, a real gRPC server in the committee that
lists the deletions it is given. The last deletion it lists is genuine: once the node has
applied it, it has seen every one before it.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

import grpc
import grpc.aio
import pytest

from tests.integration.conftest import run, wait_until
from walrus_node.client.api import WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.committee.committee import Committee
from walrus_node.committee.epoch import EpochState
from walrus_node.committee.member import Member
from walrus_node.protocol import committee_file, errors, keys, messages
from walrus_node.protocol.messages import BlobRegistration, Certificate, Confirmation, Deletion
from walrus_node.protocol.views import BlobStatus, BlobStatusState, NodeInfo, NodeStatus
from walrus_node.service import ownership
from walrus_node.testbed.testbed import Testbed
from walrus_node.transport import convert
from walrus_node.transport.client import ChannelPool
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc

N_SHARDS = 4


class Liar(pb_grpc.StorageNodeServicer):
    """Answers GetNodeInfo, ListCertificates (``certificates``, from its second call on:
    after the node has seen the deletions) and ListDeletions (``deletions``; with
    ``overflow``, one more than asked). With ``after``, its logs look empty until that
    event is set, with ``certify`` its certificate log alone; ``listed`` is set once its
    last deletion has been listed; ``info_calls`` counts the node's rounds."""

    def __init__(
        self,
        deletions: list[Deletion],
        *,
        overflow: bool = False,
        certificates: tuple[Certificate, ...] = (),
        after: threading.Event | None = None,
        certify: threading.Event | None = None,
    ) -> None:
        self.deletions = deletions
        self.overflow = overflow
        self.certificates = certificates
        self.after = after
        self.certify = certify
        self.listed = threading.Event()
        self.info_calls = 0
        self.certificate_calls = 0
        self.key = keys.KeyPair.generate()
        self.endpoint = ""
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Liar:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the lying peer did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self._server.stop(0), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._start())
        self._ready.set()
        self._loop.run_forever()

    async def _start(self) -> None:
        self._server = grpc.aio.server()
        pb_grpc.add_StorageNodeServicer_to_server(self, self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        self.endpoint = f"127.0.0.1:{port}"

    async def GetNodeInfo(self, request: Any, context: Any) -> pb.NodeInfo:
        info = NodeInfo(
            "liar", self.key.public_key, 0, 0, (), NodeStatus.ACTIVE, (), "", 0, 0, 0, "", 0
        )
        self.info_calls += 1
        shown = self.after is None or self.after.is_set()
        certified = shown and (self.certify is None or self.certify.is_set())
        logged = {"deletions_logged": len(self.deletions) if shown else 0}
        logged["certificates_logged"] = len(self.certificates) if certified else 0
        return convert.node_info_to_pb(NodeInfo(**{**info.__dict__, **logged}))

    async def ListCertificates(self, request: Any, context: Any) -> AsyncIterator[pb.Certificate]:
        self.certificate_calls += 1
        if self.certificate_calls < 2 or (self.certify is not None and not self.certify.is_set()):
            return
        for sequence, c in list(enumerate(self.certificates, 1))[request.after_sequence :]:
            yield convert.certificate_to_pb(c, sequence)

    async def ListDeletions(self, request: Any, context: Any) -> AsyncIterator[pb.Deletion]:
        listed = list(enumerate(self.deletions, 1))[request.after_sequence :]
        for sequence, deletion in listed[: request.limit + (1 if self.overflow else 0)]:
            yield convert.deletion_to_pb(deletion, sequence)
            if sequence == len(self.deletions):
                self.listed.set()


@pytest.fixture
def bed(tmp_path: pathlib.Path) -> Iterator[Testbed]:
    bed = Testbed.create(tmp_path / "testbed", 1, n_shards=N_SHARDS, plaintext=True)
    try:
        bed.up()
        yield bed
    finally:
        bed.down()


def _member(name: str, key: bytes, endpoint: str, shards: tuple[int, ...]) -> Member:
    return Member(name=name, public_key=key, endpoint=endpoint, stake=1000, shards=shards)


def _next_epoch(bed: Testbed, liar: Liar | None = None, liars_shards: int = 1) -> int:
    """Push the next epoch: the node keeps every shard, or all but the first
    ``liars_shards``, which ``liar`` takes (a member owns at least one; the node hands
    them over at once, since the committee says the liar has them)."""
    node = bed.nodes[0]
    before = bed.committees().state.current
    mine = tuple(range(liars_shards if liar is not None else 0, N_SHARDS))
    members = [_member(node.name, node.public_key, node.endpoint, mine)]
    if liar is not None:
        theirs = tuple(range(liars_shards))
        members.append(_member("liar", liar.key.public_key, liar.endpoint, theirs))
    now = Committee(before.epoch + 1, N_SHARDS, tuple(members))
    state = EpochState(now, previous=before, sync_done=frozenset(now.names))
    bed.publish_committee(
        committee_file.ActiveCommittees(
            state, committee_file.NetworkParams(network_id=bed.network_id)
        )
    )
    return now.epoch


def _sign(bed: Testbed, owner: keys.KeyPair, epoch: int, blob_id: bytes) -> bytes:
    """``owner``'s deletion of ``blob_id`` in ``epoch``, signed for the testbed's network."""
    return owner.sign(messages.deletion_message(bed.network_id, epoch, blob_id, owner.public_key))


def _status(bed: Testbed, blob_id: BlobId) -> BlobStatus:
    async def go() -> BlobStatus:
        pool = ChannelPool(timeout=30.0)
        try:
            return await pool.peer(bed.nodes[0].endpoint).get_blob_status(blob_id.raw)
        finally:
            await pool.close()

    return asyncio.run(go())


def test_a_lying_peer_deletes_nothing_the_owner_did_not_delete(bed: Testbed) -> None:
    alice, stranger = keys.KeyPair.generate(), keys.KeyPair.generate()
    data = {name: os.urandom(size) for name, size in (("again", 9000), ("kept", 7000))}
    epoch = bed.committees().epoch

    async def first(client: WalrusClient) -> tuple[BlobId, BlobId, BlobId]:
        again = await client.store(data["again"], epochs=5, deletable=True, owner=alice)
        await client.delete(again.blob_id, alice)
        kept = await client.store(data["kept"], epochs=5, deletable=True, owner=alice)
        other = await client.store(os.urandom(5000), epochs=5, deletable=True, owner=alice)
        return again.blob_id, kept.blob_id, other.blob_id

    again, kept, other = run(first, bed.client_config)
    old = _sign(bed, alice, epoch, again.raw)  # applied, then stale
    of_other = _sign(bed, alice, epoch, other.raw)  # not sent yet
    later = _next_epoch(bed)

    async def store_again(client: WalrusClient) -> None:
        await client.committees(refresh=True)
        stored = await client.store(data["again"], epochs=5, deletable=True, owner=alice)
        assert stored.certificate.epoch == later  # a new registration, after the deletion

    wait_until(lambda: bed.committees().epoch == later, 30, "the next epoch")
    run(store_again, bed.client_config)
    assert _status(bed, again).state is BlobStatusState.CERTIFIED

    lies = [
        # The owner's own deletion of the first registration, replayed against the second.
        Deletion(epoch, again.raw, alice.public_key, old),
        # A stranger's valid signature: it covers the stranger's registrations (none).
        Deletion(
            later,
            kept.raw,
            stranger.public_key,
            _sign(bed, stranger, later, kept.raw),
        ),
        # The owner's signature for another blob, relayed as a deletion of this one.
        Deletion(epoch, kept.raw, alice.public_key, of_other),
        # The owner's key with a made-up signature.
        Deletion(later, kept.raw, alice.public_key, os.urandom(64)),
        # The owner's real signature, relayed for another epoch than the one it signed.
        Deletion(later, other.raw, alice.public_key, of_other),
        # Genuine, last: the node has seen everything above once this one is applied.
        Deletion(epoch, other.raw, alice.public_key, of_other),
    ]
    with Liar(lies) as liar:
        _next_epoch(bed, liar)
        wait_until(
            lambda: _status(bed, other).state is BlobStatusState.DELETED,
            120,
            "the node to apply the genuine deletion the liar listed",
        )
    for blob_id in (again, kept):
        status = _status(bed, blob_id)
        assert status.state is BlobStatusState.CERTIFIED, blob_id
        assert [r.owner_public_key for r in status.registrations] == [alice.public_key]
        assert status.slivers_held == status.slivers_expected


def _certified_by(liar: Liar, epoch: int, blob_id: BlobId, owner: keys.KeyPair) -> Certificate:
    """A certificate of ``owner``'s deletable registration of ``blob_id`` in ``epoch``,
    signed by the liar alone (a quorum where the liar holds all but one shard)."""
    registration = BlobRegistration(epoch + 3, True, owner.public_key, 1000)
    message = messages.confirmation_message(epoch, blob_id.raw, registration)
    confirmation = Confirmation(
        epoch, blob_id.raw, registration, liar.key.public_key, liar.key.sign(message)
    )
    return Certificate.from_confirmations([confirmation])


def test_a_deletion_listed_before_its_blobs_certificate_is_applied_when_it_comes(
    bed: Testbed,
) -> None:
    """The node learns an owner's deletion of a blob it has never heard of, then (in the
    next round) the blob's certificate: it waits with the deletion, and applies it once
    the certificate is recorded. (The liar holds a quorum of the epoch here, so it can
    certify on its own: what is tested is the order, not whom to trust.)"""
    alice = keys.KeyPair.generate()
    blob_id = BlobId(os.urandom(32))
    epoch = bed.committees().epoch + 1
    signature = _sign(bed, alice, epoch, blob_id.raw)
    with Liar([Deletion(epoch, blob_id.raw, alice.public_key, signature)]) as liar:
        liar.certificates = (_certified_by(liar, epoch, blob_id, alice),)
        assert _next_epoch(bed, liar, liars_shards=N_SHARDS - 1) == epoch
        wait_until(
            lambda: _status(bed, blob_id).state is BlobStatusState.DELETED,
            120,
            "the node to apply the deletion once the certificate came",
        )
        assert liar.certificate_calls >= 2


def test_a_deletion_waiting_for_its_certificate_is_listed_again_after_a_restart(
    bed: Testbed,
) -> None:
    """The node lists an owner's deletion of a blob it does not know yet and keeps it
    waiting, is killed (SIGKILL) and started again, and only then does the blob's
    certificate come: the restarted node lists the deletion again (its persisted cursor
    stayed before it) and applies it once the certificate is recorded. (Before, the
    cursor moved past the deletion and the restart forgot it: the blob stayed certified
    on this node although its owner had deleted it.)"""
    alice = keys.KeyPair.generate()
    blob_id = BlobId(os.urandom(32))
    epoch = bed.committees().epoch + 1
    signature = _sign(bed, alice, epoch, blob_id.raw)
    certify = threading.Event()
    deletion = Deletion(epoch, blob_id.raw, alice.public_key, signature)
    with Liar([deletion], certify=certify) as liar:
        liar.certificates = (_certified_by(liar, epoch, blob_id, alice),)
        assert _next_epoch(bed, liar, liars_shards=N_SHARDS - 1) == epoch
        wait_until(liar.listed.is_set, 120, "the node to list the deletion")
        rounds = liar.info_calls  # two rounds later the one that listed it is over
        wait_until(lambda: liar.info_calls >= rounds + 2, 120, "two more catch-up rounds")
        node = bed.nodes[0].name
        bed.kill(node)
        liar.listed.clear()
        bed.start(node)
        wait_until(liar.listed.is_set, 120, "the restarted node to list the deletion again")
        certify.set()
        wait_until(
            lambda: _status(bed, blob_id).state is BlobStatusState.DELETED,
            120,
            "the restarted node to apply the deletion once the certificate came",
        )


def test_the_listing_is_bounded_and_a_peer_sending_more_than_asked_is_refused(
    bed: Testbed,
) -> None:
    owner = keys.KeyPair.generate()

    async def store_and_delete(client: WalrusClient) -> None:
        for _ in range(3):
            stored = await client.store(os.urandom(3000), epochs=3, deletable=True, owner=owner)
            await client.delete(stored.blob_id, owner)

    run(store_and_delete, bed.client_config)

    async def listings() -> None:
        pool = ChannelPool(timeout=30.0)
        try:
            node = pool.peer(bed.nodes[0].endpoint)
            assert (await node.get_node_info()).deletions_logged == 3
            everything = await node.list_deletions(0, 100)
            assert [s for s, _ in everything] == [1, 2, 3]
            assert all(
                d.is_valid(bed.network_id) and d.owner_public_key == owner.public_key
                for _, d in everything
            )
            assert await node.list_deletions(1, 1) == everything[1:2]  # after the cursor
            assert await node.list_deletions(3, 100) == []
            with (
                Liar([d for _, d in everything], overflow=True) as liar,
                pytest.raises(errors.PeerError, match="more than the 2 deletions"),
            ):
                await pool.peer(liar.endpoint).list_deletions(0, 2)
        finally:
            await pool.close()

    asyncio.run(listings())


def test_a_deletion_signed_for_another_network_is_refused_directly_and_relayed(
    bed: Testbed,
) -> None:
    """The owner uses one key on two networks. Its genuine deletion on the other network
    deletes nothing here: not when brought to ``DeleteBlob``, not when a peer relays it
    from its deletion log. (Before deletions named their network, both deleted.)"""
    alice = keys.KeyPair.generate()
    elsewhere = f"{bed.network_id}-elsewhere"

    async def store(client: WalrusClient) -> tuple[BlobId, BlobId, int]:
        kept = await client.store(os.urandom(6000), epochs=5, deletable=True, owner=alice)
        other = await client.store(os.urandom(5000), epochs=5, deletable=True, owner=alice)
        c = await client.committees(refresh=True)
        foreign = alice.sign(
            messages.deletion_message(elsewhere, c.epoch, kept.blob_id.raw, alice.public_key)
        )
        with pytest.raises(errors.PeerError, match="PERMISSION_DENIED"):
            await client._client(c.current.members[0]).delete_blob(
                kept.blob_id.raw, c.epoch, foreign
            )
        return kept.blob_id, other.blob_id, c.epoch

    kept, other, epoch = run(store, bed.client_config)
    assert _status(bed, kept).state is BlobStatusState.CERTIFIED
    foreign = alice.sign(messages.deletion_message(elsewhere, epoch, kept.raw, alice.public_key))
    lies = [
        Deletion(epoch, kept.raw, alice.public_key, foreign),
        # Genuine, last: the node has seen the foreign one once this one is applied.
        Deletion(epoch, other.raw, alice.public_key, _sign(bed, alice, epoch, other.raw)),
    ]
    with Liar(lies) as liar:
        _next_epoch(bed, liar)
        wait_until(
            lambda: _status(bed, other).state is BlobStatusState.DELETED,
            120,
            "the node to apply the genuine deletion the liar listed",
        )
    status = _status(bed, kept)
    assert status.state is BlobStatusState.CERTIFIED
    assert [r.owner_public_key for r in status.registrations] == [alice.public_key]


def _certificate(
    epoch: int, blob_id: BlobId, registration: BlobRegistration, honest: Liar, liar: Liar
) -> Certificate:
    """The registration's certificate, signed by the honest peer and the liar (2 + 1
    shards of :func:`_join_with`'s committee: a quorum of 4)."""
    message = messages.confirmation_message(epoch, blob_id.raw, registration)
    return Certificate.from_confirmations(
        [
            Confirmation(epoch, blob_id.raw, registration, k.public_key, k.sign(message))
            for k in (honest.key, liar.key)
        ]
    )


def _join_with(bed: Testbed, epoch: int, liar: Liar, honest: Liar) -> None:
    """Epoch ``epoch``'s committee: the testbed's first node (shard 0), the liar (shard 1)
    and the honest peer (shards 2 and 3)."""
    node = bed.nodes[0]
    before = bed.committees().state.current
    members = (
        _member(node.name, node.public_key, node.endpoint, (0,)),
        _member("liar", liar.key.public_key, liar.endpoint, (1,)),
        _member("honest", honest.key.public_key, honest.endpoint, (2, 3)),
    )
    now = Committee(epoch, N_SHARDS, members)
    state = EpochState(now, previous=before, sync_done=frozenset(now.names))
    bed.publish_committee(
        committee_file.ActiveCommittees(
            state, committee_file.NetworkParams(network_id=bed.network_id)
        )
    )


def test_a_peer_flooding_early_deletions_does_not_crowd_out_an_honest_peers(
    tmp_path: pathlib.Path,
) -> None:
    """A lying member lists more validly signed deletions of made-up blobs than the node
    keeps waiting (``pending_deletions``); then an honest member lists an owner's genuine
    deletion of a blob the node does not know yet, and the blob's certificate in a later
    round. The genuine deletion still waits, and is applied when the certificate comes.
    (With one bound for all peers, the liar's made-up deletions filled it and the genuine
    one was dropped: the blob stayed certified here.)"""
    capacity = 20
    bed = Testbed.create(
        tmp_path / "testbed",
        1,
        n_shards=N_SHARDS,
        plaintext=True,
        node_settings={"pending_deletions": capacity, "certificate_poll_seconds": 1.0},
    )
    try:
        bed.up()
        mallory, alice = keys.KeyPair.generate(), keys.KeyPair.generate()
        epoch = bed.committees().epoch + 1
        flood = []
        for _ in range(capacity + 10):
            made_up = os.urandom(32)
            flood.append(
                Deletion(epoch, made_up, mallory.public_key, _sign(bed, mallory, epoch, made_up))
            )
        blob_id = BlobId(os.urandom(32))
        genuine = Deletion(
            epoch, blob_id.raw, alice.public_key, _sign(bed, alice, epoch, blob_id.raw)
        )
        with Liar(flood) as liar, Liar([genuine], after=liar.listed) as honest:
            registration = BlobRegistration(epoch + 3, True, alice.public_key, 1000)
            honest.certificates = (_certificate(epoch, blob_id, registration, honest, liar),)
            _join_with(bed, epoch, liar, honest)
            wait_until(liar.listed.is_set, 120, "the node to list the liar's deletions")
            wait_until(honest.listed.is_set, 120, "the node to list the honest deletion")
            wait_until(
                lambda: _status(bed, blob_id).state is BlobStatusState.DELETED,
                120,
                "the node to apply the honest peer's deletion once the certificate came",
            )
            assert honest.certificate_calls >= 2
    finally:
        bed.down()


def _deletions_logged(bed: Testbed) -> int:
    async def go() -> int:
        pool = ChannelPool(timeout=30.0)
        try:
            return (await pool.peer(bed.nodes[0].endpoint).get_node_info()).deletions_logged
        finally:
            await pool.close()

    return asyncio.run(go())


def test_made_up_early_deletions_filling_a_blob_do_not_drop_an_owners_genuine_one(
    tmp_path: pathlib.Path,
) -> None:
    """A lying member lists validly signed deletions of a known blob by made-up owners,
    more than the blob remembers (``MAX_EARLY_DELETIONS``); then an honest member lists
    an owner's genuine deletion of the same blob, and only in a later round the owner's
    certificate. The genuine deletion waits, and removes the owner's registration once the
    certificate is here, although the liar's further made-up deletions, waiting too,
    overflow the table of waiting deletions. (Before, the full blob made the genuine one
    look like one that changes nothing: it was skipped unchecked, and the registration
    lived on at this node.)"""
    capacity = 20
    bed = Testbed.create(
        tmp_path / "testbed",
        1,
        n_shards=N_SHARDS,
        plaintext=True,
        node_settings={"pending_deletions": capacity, "certificate_poll_seconds": 1.0},
    )
    try:
        bed.up()
        alice = keys.KeyPair.generate()
        data = os.urandom(6000)

        async def store(client: WalrusClient) -> BlobId:
            return (await client.store(data, epochs=10)).blob_id  # permanent: known here

        blob_id = run(store, bed.client_config)
        epoch = bed.committees().epoch + 1
        flood = []
        for _ in range(ownership.MAX_EARLY_DELETIONS + capacity + 10):
            made_up = keys.KeyPair.generate()
            flood.append(
                Deletion(
                    epoch, blob_id.raw, made_up.public_key, _sign(bed, made_up, epoch, blob_id.raw)
                )
            )
        genuine = Deletion(
            epoch, blob_id.raw, alice.public_key, _sign(bed, alice, epoch, blob_id.raw)
        )
        filled = threading.Event()
        with Liar(flood) as liar, Liar([genuine], after=filled) as honest:
            registration = BlobRegistration(epoch + 3, True, alice.public_key, len(data))
            honest.certificates = (_certificate(epoch, blob_id, registration, honest, liar),)
            _join_with(bed, epoch, liar, honest)
            # The node remembers (and logs) as many made-up deletions as the blob takes.
            wait_until(
                lambda: _deletions_logged(bed) >= ownership.MAX_EARLY_DELETIONS,
                120,
                "the node to fill the blob with the liar's made-up deletions",
            )
            assert _deletions_logged(bed) == ownership.MAX_EARLY_DELETIONS
            filled.set()
            wait_until(honest.listed.is_set, 120, "the node to list the genuine deletion")

            def removed() -> bool:
                status = _status(bed, blob_id)
                owners = [r.owner_public_key for r in status.registrations]
                applied = _deletions_logged(bed) == ownership.MAX_EARLY_DELETIONS + 1
                return applied and honest.certificate_calls >= 2 and owners == [b""]

            wait_until(removed, 120, "the genuine deletion to remove the owner's registration")
        # The liar's made-up deletions past the blob's bound waited too, up to the table's.
        assert "pending_deletions_dropped" in bed.nodes[0].log_file.read_text()
        status = _status(bed, blob_id)
        assert status.state is BlobStatusState.CERTIFIED
        assert [r.deletable for r in status.registrations] == [False]
    finally:
        bed.down()


def test_delete_blob_on_a_blob_full_of_early_deletions_is_refused_with_a_reason(
    bed: Testbed,
) -> None:
    """Owners that registered a blob and deleted their registrations fill its early
    deletions (each is remembered, and its owner holds nothing here any more). An owner's
    ``DeleteBlob`` that would be one more (signed in the epoch before its registration was
    certified) is refused with RESOURCE_EXHAUSTED and the reason, not answered as done;
    the client's deletion, signed in the current epoch, removes the registration."""
    data = os.urandom(3000)

    async def fill(client: WalrusClient) -> BlobId:
        blob_id = (await client.store(data, epochs=10)).blob_id
        for _ in range(ownership.MAX_EARLY_DELETIONS):
            owner = keys.KeyPair.generate()
            await client.store(data, epochs=5, deletable=True, owner=owner)
            await client.delete(blob_id, owner)
        return blob_id

    blob_id = run(fill, bed.client_config)
    epoch = bed.committees().epoch
    later = _next_epoch(bed)
    wait_until(lambda: bed.committees().epoch == later, 30, "the next epoch")
    alice = keys.KeyPair.generate()

    async def refused(client: WalrusClient) -> None:
        await client.committees(refresh=True)
        stored = await client.store(data, epochs=5, deletable=True, owner=alice)
        assert stored.certificate.epoch == later
        c = await client.committees(refresh=True)
        node = client._client(c.current.members[0])
        with pytest.raises(errors.PeerError, match=r"RESOURCE_EXHAUSTED.*already remembers"):
            await node.delete_blob(blob_id.raw, epoch, _sign(bed, alice, epoch, blob_id.raw))
        deleted, problems = await client.delete(blob_id, alice)
        assert deleted == 1, problems

    run(refused, bed.client_config)
    status = _status(bed, blob_id)
    assert [r.deletable for r in status.registrations] == [False]
