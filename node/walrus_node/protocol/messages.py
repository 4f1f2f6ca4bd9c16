"""Signed protocol messages: confirmations, certificates, deletions, admin and sync requests.

Who calls it: the node (signs and verifies), the client (verifies confirmations, builds
certificates), the operator and testbed (sign admin requests). Pure: byte layouts and
signature checks, no I/O.

Every signed message starts with a distinct domain tag so that a signature made for one
purpose can never be replayed as another. Integers are little-endian.

* confirmation: ``tag | u64 epoch | blob_id[32] | registration``
* registration: ``u64 end_epoch | u8 deletable | u8 len | owner_key | u64 unencoded_length``
* deletion:     ``tag | u16 len | network_id | u64 epoch | blob_id[32] | owner_key[32]``
  signed by the blob's owner key; nodes log and relay it as a :class:`Deletion`
  (``u64 epoch | blob_id[32] | owner_key[32] | signature[64]``), which any node of the
  same network can check against the owner key it names
* admin:        ``tag | binding | u16 len | method | u64 timestamp_ms | payload``
* shard sync:   ``tag | binding | u64 epoch | u32 shard | u8 type | u8 len | after_blob_id
  | u32 limit``
* binding:      ``u16 len | network_id | target_key[32] | u64 timestamp_ms | nonce[16]``

The *binding* of control messages (admin and shard-sync requests) names the network
(``network_id`` of the committee file), the node meant to obey (its public key), when it
was signed and a random nonce, so that a request seen by one node cannot be replayed to
another network, to another node, or to the same node twice
(:mod:`walrus_node.service.replay` refuses repeats).

A deletion names its network too (so an owner using one key on two networks cannot have
its deletion on one replayed on the other), the blob, the owner and the epoch it was
signed in, but no nonce: applying it twice changes nothing the first time did not, and
what it covers is fixed by its epoch (the owner's registrations certified up to then), so
a replay is harmless. Deletions signed in the first format (``walrus-k8s/deletion/v1``,
without network or owner) verify against nothing: docs/security.md, "Deletions relayed
by peers".
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Sequence
from typing import Protocol

from walrus_node.codec.params import SliverType
from walrus_node.protocol import keys
from walrus_node.protocol.committee_file import MAX_NETWORK_ID

__all__ = [
    "Binding",
    "BlobRegistration",
    "Certificate",
    "CertificateError",
    "Confirmation",
    "Deletion",
    "SignerWeights",
    "admin_message",
    "confirmation_message",
    "deletion_message",
    "shard_sync_message",
    "verify_certificate",
]

_CONFIRMATION = b"walrus-k8s/confirmation/v1\x00"
_DELETION = b"walrus-k8s/deletion/v2\x00"
_ADMIN = b"walrus-k8s/admin/v2\x00"
_SHARD_SYNC = b"walrus-k8s/shard-sync/v2\x00"

NONCE_SIZE = 16
"""Bytes of the random nonce in a control message's binding."""


@dataclasses.dataclass(frozen=True)
class BlobRegistration:
    """What storing a blob commits the network to: until when, and whether it is deletable."""

    end_epoch: int
    """First epoch in which the blob is no longer stored (exclusive end)."""
    deletable: bool = False
    owner_public_key: bytes = b""
    """Ed25519 key that may delete a deletable blob; empty for permanent blobs."""
    unencoded_length: int = 0

    def to_bytes(self) -> bytes:
        return (
            struct.pack("<QBB", self.end_epoch, int(self.deletable), len(self.owner_public_key))
            + self.owner_public_key
            + struct.pack("<Q", self.unencoded_length)
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> tuple[BlobRegistration, int]:
        """Parse one registration; return it and the number of bytes it took. Raises
        :class:`CertificateError` for malformed bytes."""
        try:
            end_epoch, deletable, key_len = struct.unpack_from("<QBB", data)
            key = bytes(data[10 : 10 + key_len])
            (length,) = struct.unpack_from("<Q", data, 10 + key_len)
        except struct.error as e:
            raise CertificateError(f"registration: {e}") from e
        if deletable > 1:
            raise CertificateError(f"registration: deletable flag {deletable} is not 0 or 1")
        return cls(end_epoch, bool(deletable), key, length), 18 + key_len

    def problems(self) -> list[str]:
        """Structural problems, each naming the field (empty when well formed)."""
        out = []
        if self.deletable and len(self.owner_public_key) != keys.PUBLIC_KEY_SIZE:
            out.append("owner_public_key: a deletable blob needs a 32-byte Ed25519 owner key")
        if not self.deletable and self.owner_public_key:
            out.append("owner_public_key: only deletable blobs have an owner key")
        return out


def confirmation_message(epoch: int, blob_id: bytes, registration: BlobRegistration) -> bytes:
    return _CONFIRMATION + struct.pack("<Q", epoch) + blob_id + registration.to_bytes()


def _network(network_id: str) -> bytes:
    network = network_id.encode()
    if len(network) > MAX_NETWORK_ID:
        raise ValueError(f"network_id: longer than {MAX_NETWORK_ID} bytes")
    return struct.pack("<H", len(network)) + network


def deletion_message(network_id: str, epoch: int, blob_id: bytes, owner: bytes) -> bytes:
    """What an owner signs to delete its registrations of ``blob_id`` certified up to
    ``epoch``, on the network ``network_id`` (``params.network_id`` of the committee file,
    empty for a network without one)."""
    return _DELETION + _network(network_id) + struct.pack("<Q", epoch) + blob_id + owner


@dataclasses.dataclass(frozen=True)
class Deletion:
    """An owner's signed deletion of its registration of a blob, as nodes log and relay it.

    The signature covers the network, the epoch, the blob ID and the owner key
    (:func:`deletion_message`, what the client signs); the network is not carried: each
    node checks the signature against its own network, so a deletion signed for another
    network fails there. The owner key is carried so that a node handed the deletion by a
    peer can check it without trusting the peer. Any other key makes the signature fail.
    """

    epoch: int
    blob_id: bytes
    owner_public_key: bytes
    signature: bytes

    SIZE = 8 + 32 + keys.PUBLIC_KEY_SIZE + keys.SIGNATURE_SIZE

    def message(self, network_id: str) -> bytes:
        return deletion_message(network_id, self.epoch, self.blob_id, self.owner_public_key)

    def is_valid(self, network_id: str) -> bool:
        """The owner key signed this deletion for the network ``network_id`` (and the blob
        ID is 32 bytes)."""
        return len(self.blob_id) == 32 and keys.verify(
            self.owner_public_key, self.signature, self.message(network_id)
        )

    def to_bytes(self) -> bytes:
        return struct.pack("<Q", self.epoch) + self.blob_id + self.owner_public_key + self.signature

    @classmethod
    def from_bytes(cls, data: bytes) -> Deletion:
        """Parse the storage form; ``ValueError`` for bytes of another length."""
        if len(data) != cls.SIZE:
            raise ValueError(f"a deletion is {cls.SIZE} bytes, not {len(data)}")
        (epoch,) = struct.unpack_from("<Q", data)
        return cls(epoch, bytes(data[8:40]), bytes(data[40:72]), bytes(data[72:]))


@dataclasses.dataclass(frozen=True)
class Binding:
    """Where and when a control message is valid: one network, one target node, once."""

    network_id: str
    target: bytes
    """Public key of the node that must obey the message."""
    timestamp_ms: int
    nonce: bytes

    def to_bytes(self) -> bytes:
        if len(self.target) != keys.PUBLIC_KEY_SIZE:
            raise ValueError(f"target: expected {keys.PUBLIC_KEY_SIZE} bytes")
        if len(self.nonce) != NONCE_SIZE:
            raise ValueError(f"nonce: expected {NONCE_SIZE} bytes")
        return (
            _network(self.network_id)
            + self.target
            + struct.pack("<Q", self.timestamp_ms)
            + self.nonce
        )


def admin_message(binding: Binding, method: str, payload: bytes) -> bytes:
    name = method.encode()
    return _ADMIN + binding.to_bytes() + struct.pack("<H", len(name)) + name + payload


def shard_sync_message(
    binding: Binding,
    epoch: int,
    shard: int,
    sliver_type: SliverType,
    after_blob_id: bytes,
    limit: int,
) -> bytes:
    wire_type = 1 if sliver_type is SliverType.PRIMARY else 2
    return (
        _SHARD_SYNC
        + binding.to_bytes()
        + struct.pack("<QIBB", epoch, shard, wire_type, len(after_blob_id))
        + after_blob_id
        + struct.pack("<I", limit)
    )


@dataclasses.dataclass(frozen=True)
class Confirmation:
    """One node's signed statement that it durably holds its slivers of a blob."""

    epoch: int
    blob_id: bytes
    registration: BlobRegistration
    signer: bytes
    signature: bytes

    def message(self) -> bytes:
        return confirmation_message(self.epoch, self.blob_id, self.registration)

    def is_valid(self) -> bool:
        return keys.verify(self.signer, self.signature, self.message())


@dataclasses.dataclass(frozen=True)
class Certificate:
    """Confirmations of the same statement from nodes holding at least ``n - f`` shards."""

    epoch: int
    blob_id: bytes
    registration: BlobRegistration
    signatures: tuple[tuple[bytes, bytes], ...]
    """(signer public key, signature) pairs."""

    @classmethod
    def from_confirmations(cls, confirmations: Sequence[Confirmation]) -> Certificate:
        if not confirmations:
            raise ValueError("a certificate needs at least one confirmation")
        first = confirmations[0]
        for c in confirmations:
            if (c.epoch, c.blob_id, c.registration) != (
                first.epoch,
                first.blob_id,
                first.registration,
            ):
                raise ValueError("confirmations of different statements cannot be combined")
        return cls(
            first.epoch,
            first.blob_id,
            first.registration,
            tuple((c.signer, c.signature) for c in confirmations),
        )

    def message(self) -> bytes:
        return confirmation_message(self.epoch, self.blob_id, self.registration)

    def to_bytes(self) -> bytes:
        """Storage form: ``u64 epoch | blob_id | registration | u16 count | (key, sig)*``."""
        parts = [struct.pack("<Q", self.epoch), self.blob_id, self.registration.to_bytes()]
        parts.append(struct.pack("<H", len(self.signatures)))
        parts.extend(signer + signature for signer, signature in self.signatures)
        return b"".join(parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Certificate:
        """Parse the storage form; raises :class:`CertificateError` for malformed bytes."""
        if len(data) < 40:
            raise CertificateError(f"{len(data)} bytes is shorter than a certificate's header")
        (epoch,) = struct.unpack_from("<Q", data)
        blob_id = bytes(data[8:40])
        registration, used = BlobRegistration.from_bytes(data[40:])
        offset = 40 + used
        try:
            (count,) = struct.unpack_from("<H", data, offset)
        except struct.error as e:
            raise CertificateError(f"signature count: {e}") from e
        offset += 2
        if len(data) != offset + 96 * count:
            raise CertificateError(
                f"{len(data)} bytes, expected {offset + 96 * count} for {count} signatures"
            )
        pairs = []
        for _ in range(count):
            pairs.append(
                (bytes(data[offset : offset + 32]), bytes(data[offset + 32 : offset + 96]))
            )
            offset += 96
        return cls(epoch, blob_id, registration, tuple(pairs))


class SignerWeights(Protocol):
    """The committee of a certificate's epoch, as far as verification needs it."""

    @property
    def n_shards(self) -> int: ...

    def shard_count_of(self, public_key: bytes) -> int:
        """Shards the member with this key owns; 0 for non-members."""
        ...


class CertificateError(ValueError):
    """A certificate that does not prove what it claims; the message says why."""


def verify_certificate(
    certificate: Certificate, committee: SignerWeights, made_here: Confirmation | None = None
) -> int:
    """Check signatures and quorum; return the signers' total shard weight.

    Raises :class:`CertificateError` naming the first problem: an unknown or repeated
    signer, a bad signature, or signers holding fewer than ``n - f`` shards.

    ``made_here`` is a confirmation the caller signed itself: a signature in the
    certificate equal to it, by the same signer over the same statement, is the very one
    the caller made, and is not checked again (every other one is).
    """
    n = committee.n_shards
    quorum = n - (n - 1) // 3
    message = certificate.message()
    known = None
    if made_here is not None and made_here.message() == message:
        known = (made_here.signer, made_here.signature)
    seen: set[bytes] = set()
    weight = 0
    for signer, signature in certificate.signatures:
        label = keys.encode_public_key(signer) if len(signer) == 32 else repr(signer[:8])
        if signer in seen:
            raise CertificateError(f"signer {label} appears twice")
        seen.add(signer)
        shards = committee.shard_count_of(signer)
        if shards == 0:
            raise CertificateError(f"signer {label} is not in the committee of the epoch")
        if (signer, signature) != known and not keys.verify(signer, signature, message):
            raise CertificateError(f"signature of {label} does not verify")
        weight += shards
    if weight < quorum:
        raise CertificateError(f"signers hold {weight} shards, a certificate needs {quorum}")
    return weight
