"""A stranger tries to destroy a permanent blob it does not own (issue 10, attack 1).

Against a real 7-node testbed: the stranger asks every node to confirm *its own*
registration of someone else's certified permanent blob (deletable, its own owner key, a
later end epoch), submits the certificate the confirmations make, then deletes "its"
blob. Before registrations were owned, each node replaced the permanent registration with
the stranger's and dropped the data on deletion.
"""

from __future__ import annotations

import asyncio
import os
import pathlib

from tests.integration.conftest import run
from tests.integration.test_byzantine import _client_config_via as client_config_via
from tests.support.byzantine import ByzantineProxy
from walrus_node.client.api import WalrusClient
from walrus_node.codec.metadata import BlobId
from walrus_node.protocol import committee_file, keys, messages
from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.protocol.views import BlobStatusState
from walrus_node.testbed.testbed import Testbed


async def _strangers_certificate(
    client: WalrusClient, blob_id: BlobId, stranger: keys.KeyPair, length: int
) -> Certificate:
    c = await client.committees()
    registration = BlobRegistration(c.epoch + 5, True, stranger.public_key, length)
    members = [m for m in c.current.members if m.shards]
    confirmations = await asyncio.gather(
        *(client._client(m).get_confirmation(blob_id.raw, registration) for m in members)
    )
    return Certificate.from_confirmations(list(confirmations))


def test_a_strangers_registration_and_deletion_leave_a_permanent_blob_intact(
    testbed: Testbed,
) -> None:
    data = os.urandom(300_000)
    stranger = keys.KeyPair.generate()

    async def go(client: WalrusClient) -> None:
        stored = await client.store(data, epochs=2)
        blob_id = stored.blob_id
        certificate = await _strangers_certificate(client, blob_id, stranger, len(data))
        c = await client.committees()
        for m in c.current.members:
            await client._client(m).submit_certificate(certificate)
        deleted, _ = await client.delete(blob_id, stranger)
        assert deleted == len(c.current.members)  # each node deleted the stranger's own

        for member, status in await client.status(blob_id):
            assert not isinstance(status, str), f"{member.name}: {status}"
            assert status.state is BlobStatusState.CERTIFIED, member.name
            assert [r.deletable for r in status.registrations] == [False], member.name
            assert status.registration == stored.certificate.registration
            assert status.slivers_held == status.slivers_expected, member.name
        assert (await client.read(blob_id)).data == data

        # Deleting again removes nothing more: the permanent registration is not the
        # stranger's.
        signature = stranger.sign(
            messages.deletion_message(c.network_id, c.epoch, blob_id.raw, stranger.public_key)
        )
        for member in c.current.members:
            assert not await client._client(member).delete_blob(blob_id.raw, c.epoch, signature)
        assert (await client.read(blob_id)).data == data

    run(go, testbed.client_config)


def test_an_owner_deletes_only_its_registration_and_the_data_goes_with_the_last(
    testbed: Testbed,
) -> None:
    data = os.urandom(50_000)
    alice, bob = keys.KeyPair.generate(), keys.KeyPair.generate()

    async def go(client: WalrusClient) -> None:
        stored = await client.store(data, epochs=2, deletable=True, owner=alice)
        blob_id = stored.blob_id
        certificate = await _strangers_certificate(client, blob_id, bob, len(data))
        c = await client.committees()
        for m in c.current.members:
            await client._client(m).submit_certificate(certificate)

        await client.delete(blob_id, alice)
        assert (await client.read(blob_id)).data == data  # bob's registration keeps it
        statuses = [s for _, s in await client.status(blob_id)]
        assert all(
            not isinstance(s, str) and s.state is BlobStatusState.CERTIFIED for s in statuses
        )

        # Alice's deleted registration cannot be brought back by replaying its certificate.
        for m in c.current.members:
            newly, _ = await client._client(m).submit_certificate(stored.certificate)
            assert not newly

        await client.delete(blob_id, bob)
        statuses = [s for _, s in await client.status(blob_id)]
        assert all(not isinstance(s, str) and s.state is BlobStatusState.DELETED for s in statuses)

    run(go, testbed.client_config)


def test_extend_ignores_a_replayed_confirmation_from_one_node(
    testbed: Testbed, tmp_path: pathlib.Path
) -> None:
    """A node (a real proxy in front of a real node) answers ``extend`` with the
    confirmation it gave when the blob was stored: a valid signature over another
    statement. It counts as that node's problem; the extension succeeds with the others."""
    data = os.urandom(20_000)
    c = committee_file.parse(testbed.committee_file.read_bytes())
    liar = c.current.members[0]
    with ByzantineProxy.for_node(
        testbed,
        liar.name,
        corrupt_slivers=False,
        corrupt_metadata=False,
        replay_confirmations=True,
    ) as proxy:
        config = client_config_via(testbed, {liar.name: proxy}, tmp_path)

        async def go(client: WalrusClient) -> None:
            stored = await client.store(data, epochs=1)
            result = await client.extend(stored.blob_id, 2)
            assert result.certificate.registration.end_epoch == c.epoch + 3
            assert any(liar.name in p and "invalid confirmation" in p for p in result.problems), (
                result.problems
            )

        run(go, config)
        assert proxy.lies >= 1
