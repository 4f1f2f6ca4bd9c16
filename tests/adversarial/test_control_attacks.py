"""Replayed and misdirected admin requests (issue 10, attack 3), against real nodes.

Admin requests used to be bound only to a timestamp: one seen by any node could be
replayed, within five minutes, to the same node, to every other node, and to any other
network trusting the same admin key. Now each is signed for one network, one node and
one nonce.
"""

from __future__ import annotations

import dataclasses
import pathlib
from collections.abc import Iterator

import grpc
import pytest

from walrus_node.protocol import committee_file
from walrus_node.testbed.testbed import Testbed
from walrus_node.transport.client import NodeClient
from walrus_proto.node.v1 import node_pb2 as pb
from walrus_proto.node.v1 import node_pb2_grpc as pb_grpc


@pytest.fixture
def bed(tmp_path: pathlib.Path) -> Iterator[Testbed]:
    # Plaintext: these attacks are on the signed control messages, not the transport
    # (which would refuse a caller without the network's client certificate first).
    bed = Testbed.create(tmp_path / "testbed", 4, plaintext=True)
    try:
        bed.up()
        yield bed
    finally:
        bed.down()


def _send(
    endpoint: str, request: pb.AdminRequest, method: str = "SetCommittee"
) -> grpc.RpcError | None:
    with grpc.insecure_channel(endpoint) as channel:
        stub = pb_grpc.AdminStub(channel)
        try:
            getattr(stub, method)(request, timeout=30)
        except grpc.RpcError as e:
            return e
    return None


def test_an_admin_request_is_obeyed_once_by_the_node_it_names(bed: Testbed) -> None:
    c = committee_file.parse(bed.committee_file.read_bytes())
    a, b = bed.nodes[0], bed.nodes[1]
    request = NodeClient._admin_request(
        bed.admin_key, "SetCommittee", c.to_json(), c.network_id, a.public_key
    )
    assert _send(a.endpoint, request) is None

    replay = _send(a.endpoint, request)
    assert replay is not None and replay.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "replay" in (replay.details() or "")

    elsewhere = _send(b.endpoint, request)
    assert elsewhere is not None and elsewhere.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "not this node" in (elsewhere.details() or "")


def test_an_admin_request_for_another_network_is_refused(bed: Testbed) -> None:
    c = committee_file.parse(bed.committee_file.read_bytes())
    node = bed.nodes[0]
    # The same admin key runs another network; its committee push reaches this node.
    other = dataclasses.replace(
        c, params=dataclasses.replace(c.params, network_id="another-network")
    )
    request = NodeClient._admin_request(
        bed.admin_key, "SetCommittee", other.to_json(), "another-network", node.public_key
    )
    refused = _send(node.endpoint, request)
    assert refused is not None and refused.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "another-network" in (refused.details() or "")

    status = NodeClient._admin_request(
        bed.admin_key, "GetSyncStatus", b"", "another-network", node.public_key
    )
    refused = _send(node.endpoint, status, "GetSyncStatus")
    assert refused is not None and refused.code() == grpc.StatusCode.PERMISSION_DENIED

    # The node still follows its own network's committee.
    ok = NodeClient._admin_request(
        bed.admin_key, "GetSyncStatus", b"", c.network_id, node.public_key
    )
    assert _send(node.endpoint, ok, "GetSyncStatus") is None
