"""Conversions between protobuf messages and the domain types. The only place (with the
servicer and client in this package) that imports generated code.
"""

from __future__ import annotations

import dataclasses

from walrus_node.codec.params import SliverType
from walrus_node.protocol import errors, keys
from walrus_node.protocol.messages import BlobRegistration, Certificate, Confirmation, Deletion
from walrus_node.protocol.views import (
    BlobStatus,
    BlobStatusState,
    NodeInfo,
    NodeStatus,
    ShardSyncView,
    SyncStatus,
)
from walrus_proto.node.v1 import node_pb2 as pb

__all__ = [
    "MAX_MESSAGE_SIZE",
    "blob_status_from_pb",
    "blob_status_to_pb",
    "certificate_from_pb",
    "certificate_to_pb",
    "confirmation_from_pb",
    "confirmation_to_pb",
    "deletion_from_pb",
    "deletion_to_pb",
    "node_info_from_pb",
    "node_info_to_pb",
    "registration_from_pb",
    "registration_to_pb",
    "sliver_type_from_pb",
    "sliver_type_to_pb",
    "sync_status_from_pb",
    "sync_status_to_pb",
]

MAX_REGISTRATIONS = 4096
"""Most registrations a blob status may list (each one took a certificate to make)."""
MAX_MESSAGE_SIZE = 8 << 20
"""Receive limit on both sides: a chunk plus generous room for headers and proofs."""

_SLIVER_TYPES = {
    SliverType.PRIMARY: pb.SLIVER_TYPE_PRIMARY,
    SliverType.SECONDARY: pb.SLIVER_TYPE_SECONDARY,
}
_SLIVER_TYPES_BACK = {v: k for k, v in _SLIVER_TYPES.items()}

_NODE_STATUS = {
    NodeStatus.STANDBY: pb.NODE_STATUS_STANDBY,
    NodeStatus.ACTIVE: pb.NODE_STATUS_ACTIVE,
    NodeStatus.SYNCING: pb.NODE_STATUS_SYNCING,
    NodeStatus.RECOVERING: pb.NODE_STATUS_RECOVERING,
}
_NODE_STATUS_BACK = {v: k for k, v in _NODE_STATUS.items()}

_BLOB_STATES = {
    BlobStatusState.NONEXISTENT: pb.BlobStatus.STATE_NONEXISTENT,
    BlobStatusState.REGISTERED: pb.BlobStatus.STATE_REGISTERED,
    BlobStatusState.CERTIFIED: pb.BlobStatus.STATE_CERTIFIED,
    BlobStatusState.EXPIRED: pb.BlobStatus.STATE_EXPIRED,
    BlobStatusState.DELETED: pb.BlobStatus.STATE_DELETED,
    BlobStatusState.INVALID: pb.BlobStatus.STATE_INVALID,
}
_BLOB_STATES_BACK = {v: k for k, v in _BLOB_STATES.items()}


def sliver_type_to_pb(sliver_type: SliverType) -> pb.SliverType.ValueType:
    return _SLIVER_TYPES[sliver_type]


def sliver_type_from_pb(value: int) -> SliverType:
    try:
        return _SLIVER_TYPES_BACK[value]  # type: ignore[index]
    except KeyError:
        raise errors.InvalidRequest(f"sliver type {value} is not primary or secondary") from None


def registration_to_pb(r: BlobRegistration) -> pb.BlobRegistration:
    return pb.BlobRegistration(
        end_epoch=r.end_epoch,
        deletable=r.deletable,
        owner_public_key=r.owner_public_key,
        unencoded_length=r.unencoded_length,
    )


def registration_from_pb(m: pb.BlobRegistration) -> BlobRegistration:
    return BlobRegistration(m.end_epoch, m.deletable, m.owner_public_key, m.unencoded_length)


def confirmation_to_pb(c: Confirmation) -> pb.Confirmation:
    return pb.Confirmation(
        epoch=c.epoch,
        blob_id=c.blob_id,
        registration=registration_to_pb(c.registration),
        signer=c.signer,
        signature=c.signature,
    )


def confirmation_from_pb(m: pb.Confirmation) -> Confirmation:
    return Confirmation(
        m.epoch, m.blob_id, registration_from_pb(m.registration), m.signer, m.signature
    )


def certificate_to_pb(c: Certificate, sequence: int = 0) -> pb.Certificate:
    return pb.Certificate(
        epoch=c.epoch,
        blob_id=c.blob_id,
        registration=registration_to_pb(c.registration),
        signatures=[pb.CertificateSignature(signer=s, signature=g) for s, g in c.signatures],
        sequence=sequence,
    )


def certificate_from_pb(m: pb.Certificate) -> Certificate:
    if len(m.signatures) > 1024:
        raise errors.InvalidRequest(f"certificate has {len(m.signatures)} signatures (max 1024)")
    return Certificate(
        m.epoch,
        m.blob_id,
        registration_from_pb(m.registration),
        tuple((s.signer, s.signature) for s in m.signatures),
    )


def deletion_to_pb(d: Deletion, sequence: int = 0) -> pb.Deletion:
    return pb.Deletion(
        blob_id=d.blob_id,
        epoch=d.epoch,
        owner_public_key=d.owner_public_key,
        signature=d.signature,
        sequence=sequence,
    )


def deletion_from_pb(m: pb.Deletion) -> Deletion:
    """The deletion as received; its fields' sizes checked here, its signature by whoever
    acts on it (:meth:`Deletion.is_valid`)."""
    if len(m.blob_id) != 32:
        raise errors.InvalidRequest(f"deletion: blob_id is {len(m.blob_id)} bytes, not 32")
    if len(m.owner_public_key) != keys.PUBLIC_KEY_SIZE or len(m.signature) != keys.SIGNATURE_SIZE:
        raise errors.InvalidRequest("deletion: a 32-byte owner key and a 64-byte signature")
    return Deletion(m.epoch, m.blob_id, m.owner_public_key, m.signature)


def node_info_to_pb(i: NodeInfo) -> pb.NodeInfo:
    return pb.NodeInfo(
        name=i.name,
        public_key=i.public_key,
        epoch=i.epoch,
        n_shards=i.n_shards,
        shards=list(i.shards),
        status=_NODE_STATUS[i.status],
        shard_states=[pb.ShardState(shard=s, state=t) for s, t in i.shard_states],
        version=i.version,
        uptime_seconds=i.uptime_seconds,
        blobs_stored=i.blobs_stored,
        recovery_backlog=i.recovery_backlog,
        phase=i.phase,
        certificates_logged=i.certificates_logged,
        deletions_logged=i.deletions_logged,
    )


def node_info_from_pb(m: pb.NodeInfo) -> NodeInfo:
    return NodeInfo(
        name=m.name,
        public_key=m.public_key,
        epoch=m.epoch,
        n_shards=m.n_shards,
        shards=tuple(m.shards),
        status=_NODE_STATUS_BACK.get(m.status, NodeStatus.STANDBY),
        shard_states=tuple((s.shard, s.state) for s in m.shard_states),
        version=m.version,
        uptime_seconds=m.uptime_seconds,
        blobs_stored=m.blobs_stored,
        recovery_backlog=m.recovery_backlog,
        phase=m.phase,
        certificates_logged=m.certificates_logged,
        deletions_logged=m.deletions_logged,
    )


def blob_status_to_pb(s: BlobStatus) -> pb.BlobStatus:
    r = s.registration
    return pb.BlobStatus(
        state=_BLOB_STATES[s.state],
        has_metadata=s.has_metadata,
        slivers_held=s.slivers_held,
        slivers_expected=s.slivers_expected,
        certified_epoch=s.certified_epoch,
        end_epoch=r.end_epoch if r is not None else 0,
        deletable=r.deletable if r is not None else False,
        owner_public_key=r.owner_public_key if r is not None else b"",
        unencoded_length=r.unencoded_length if r is not None else 0,
        registrations=[registration_to_pb(x) for x in s.registrations],
        inconsistency_proof=s.inconsistency_proof,
        metadata=s.metadata,
    )


def blob_status_from_pb(m: pb.BlobStatus) -> BlobStatus:
    if len(m.registrations) > MAX_REGISTRATIONS:
        raise errors.ResourceExhausted(
            f"blob status lists {len(m.registrations)} registrations (max {MAX_REGISTRATIONS})"
        )
    registrations = tuple(registration_from_pb(r) for r in m.registrations)
    if not registrations and m.end_epoch:  # a node that lists only the longest one
        registrations = (
            BlobRegistration(m.end_epoch, m.deletable, m.owner_public_key, m.unencoded_length),
        )
    return BlobStatus(
        _BLOB_STATES_BACK.get(m.state, BlobStatusState.NONEXISTENT),
        m.has_metadata,
        m.slivers_held,
        m.slivers_expected,
        m.certified_epoch,
        registrations,
        m.inconsistency_proof,
        m.metadata,
    )


def sync_status_to_pb(s: SyncStatus) -> pb.SyncStatus:
    return pb.SyncStatus(
        epoch=s.epoch,
        shards_total=s.shards_total,
        shards_done=s.shards_done,
        bytes_received=s.bytes_received,
        slivers_received=s.slivers_received,
        slivers_recovered=s.slivers_recovered,
        epoch_sync_done=s.epoch_sync_done,
        shards=[pb.ShardSyncState(**dataclasses.asdict(x)) for x in s.shards],
        skipped_blob_ids=list(s.skipped_blob_ids),
    )


def sync_status_from_pb(m: pb.SyncStatus) -> SyncStatus:
    return SyncStatus(
        m.epoch,
        m.shards_total,
        m.shards_done,
        m.bytes_received,
        m.slivers_received,
        m.slivers_recovered,
        m.epoch_sync_done,
        tuple(
            ShardSyncView(
                x.shard,
                x.state,
                x.source,
                x.slivers,
                x.bytes,
                x.error,
                x.recovered,
                x.recovered_bytes,
                x.started_at,
                x.recovery_started_at,
                x.finished_at,
            )
            for x in m.shards
        ),
        tuple(m.skipped_blob_ids),
    )
