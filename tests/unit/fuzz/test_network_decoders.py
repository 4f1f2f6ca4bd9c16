"""Fuzzing every decoder that takes bytes from the network (issue 10, item 7).

Each decoder must either return a valid value or raise its documented error, never
anything else (an IndexError, a struct.error, a crash...). Short in CI; for a longer run::

    WALRUS_FUZZ_EXAMPLES=20000 .venv/bin/pytest -q tests/unit/fuzz

Covered: metadata, slivers and recovery symbols (against real metadata), certificates
(wire and storage forms, and their verification), inconsistency proofs, shard batches,
committee files, control-message bindings, and the protobuf conversions of every message
a node or client receives. The same decoders are fuzzed with coverage guidance by atheris
(:mod:`.atheris_main`, :mod:`.test_atheris`).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable
from typing import Any

from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.codec import samples
from tests.unit.fuzz import decoders
from walrus_node.codec import errors as codec_errors
from walrus_node.codec import metadata as metadata_mod
from walrus_node.codec import recovery, slivers
from walrus_node.codec.metadata import BlobId, BlobMetadata
from walrus_node.codec.params import SliverType
from walrus_node.committee.committee import Committee
from walrus_node.committee.epoch import EpochState
from walrus_node.committee.member import Member
from walrus_node.protocol import committee_file, errors, messages
from walrus_node.transport import convert, framing
from walrus_proto.node.v1 import node_pb2 as pb

EXAMPLES = int(os.environ.get("WALRUS_FUZZ_EXAMPLES", "150"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ENC = samples.encoded(7, 3000)


@FUZZ
@given(st.binary(max_size=1200))
def test_metadata_decoder(data: bytes) -> None:
    with contextlib.suppress(codec_errors.InvalidMetadataError):
        BlobMetadata.from_bytes(data)
    with contextlib.suppress(codec_errors.InvalidMetadataError):
        metadata_mod.verify_metadata(ENC.blob_id, data, 7)


@FUZZ
@given(st.binary(max_size=600), st.sampled_from(list(SliverType)), st.integers(-3, 300))
def test_sliver_verification(data: bytes, sliver_type: SliverType, index: int) -> None:
    with contextlib.suppress(codec_errors.InvalidSliverError):
        slivers.verify_sliver(ENC.metadata, sliver_type, index, data)


@FUZZ
@given(
    st.sampled_from(list(SliverType)),
    st.integers(-3, 300),
    st.integers(-3, 300),
    st.binary(max_size=200),
    st.lists(st.binary(max_size=40), max_size=6),
)
def test_symbol_verification(
    source_type: SliverType, source: int, target: int, data: bytes, proof: list[bytes]
) -> None:
    symbol = recovery.RecoverySymbol(source_type, source, target, data, tuple(proof))
    with contextlib.suppress(codec_errors.InvalidSymbolError):
        recovery.verify_symbol(ENC.metadata, symbol)


class _Weights:
    n_shards = 7

    def shard_count_of(self, public_key: bytes) -> int:
        return 1 if public_key[:1] == b"\x01" else 0


@FUZZ
@given(st.binary(max_size=400))
def test_certificate_storage_form_and_verification(data: bytes) -> None:
    try:
        certificate = messages.Certificate.from_bytes(data)
    except messages.CertificateError:
        return
    with contextlib.suppress(messages.CertificateError):
        messages.verify_certificate(certificate, _Weights())


@FUZZ
@given(st.binary(max_size=200))
def test_deletion_storage_form_and_check(data: bytes) -> None:
    try:
        deletion = messages.Deletion.from_bytes(data)
    except ValueError:
        return
    assert deletion.to_bytes() == data
    deletion.is_valid("fuzz")  # a bool, whatever the bytes


@FUZZ
@given(
    st.text(max_size=300), st.binary(max_size=40), st.integers(0, 2**64 - 1), st.binary(max_size=20)
)
def test_control_message_binding(network: str, target: bytes, timestamp: int, nonce: bytes) -> None:
    binding = messages.Binding(network, target, timestamp, nonce)
    with contextlib.suppress(ValueError):
        messages.admin_message(binding, "SetCommittee", b"{}")


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)


@FUZZ
@given(st.one_of(st.binary(max_size=400), _json.map(lambda v: json.dumps(v).encode())))
def test_committee_file_parser(data: bytes) -> None:
    with contextlib.suppress(committee_file.CommitteeFileError):
        committee_file.parse(data)


def _mutated_committee(data: st.DataObject) -> bytes:
    members = tuple(
        Member(
            name=f"n{i}",
            public_key=bytes([i + 1]) * 32,
            endpoint=f"127.0.0.1:{9000 + i}",
            stake=100,
            shards=(i,),
        )
        for i in range(4)
    )
    good = json.loads(
        committee_file.ActiveCommittees(EpochState(Committee(1, 4, members))).to_json()
    )
    path: list[Any] = []
    node: Any = good
    while isinstance(node, (dict, list)) and node and data.draw(st.booleans()):
        key = data.draw(
            st.sampled_from(sorted(node) if isinstance(node, dict) else range(len(node)))
        )
        path.append(key)
        node = node[key]
    value = data.draw(_json)
    if not path:
        return json.dumps(value).encode()
    target: Any = good
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(good).encode()


@FUZZ
@given(st.data())
def test_committee_file_parser_on_mutated_files(data: st.DataObject) -> None:
    with contextlib.suppress(committee_file.CommitteeFileError):
        committee_file.parse(_mutated_committee(data))


def _protobuf(message: type[Any], convert_fn: Callable[[Any], object]) -> Callable[[bytes], None]:
    def check(raw: bytes) -> None:
        try:
            parsed = message.FromString(raw)
        except DecodeError:
            return
        with contextlib.suppress(errors.NodeError):
            convert_fn(parsed)

    return check


_CONVERSIONS = [
    _protobuf(pb.BlobRegistration, convert.registration_from_pb),
    _protobuf(pb.Confirmation, convert.confirmation_from_pb),
    _protobuf(pb.Certificate, convert.certificate_from_pb),
    _protobuf(pb.Deletion, lambda m: convert.deletion_from_pb(m).is_valid("fuzz")),
    _protobuf(pb.NodeInfo, convert.node_info_from_pb),
    _protobuf(pb.BlobStatus, convert.blob_status_from_pb),
    _protobuf(pb.SyncStatus, convert.sync_status_from_pb),
    _protobuf(pb.GetSliverRequest, lambda m: convert.sliver_type_from_pb(m.type)),
]


@FUZZ
@given(st.sampled_from(range(len(_CONVERSIONS))), st.binary(max_size=600))
def test_protobuf_conversions(which: int, raw: bytes) -> None:
    _CONVERSIONS[which](raw)


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_streamed_recovery_symbols(raws: list[bytes]) -> None:
    parts = []
    for raw in raws:
        try:
            parts.append(pb.RecoverySymbolPart.FromString(raw))
        except DecodeError:
            continue

    frames = framing.SymbolFrames(_LIMITS, "fuzz")
    with contextlib.suppress(errors.NodeError):
        for part in parts:
            frames.add(part)
        frames.end()


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_streamed_slivers(raws: list[bytes]) -> None:
    """Sliver streams (uploads, GetSliver answers, shard batches) through one framing."""
    frames = framing.SliverFrames(_LIMITS, "fuzz")
    with contextlib.suppress(errors.NodeError):
        for raw in raws:
            try:
                part = pb.SliverPart.FromString(raw)
            except DecodeError:
                continue
            if part.WhichOneof("part") == "header":
                frames.header(part.header)
            else:
                frames.data(part.data)
        frames.end()


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_streamed_store_blob_parts(raws: list[bytes]) -> None:
    """StoreBlob's messages read as the node reads them: data parts as views of the
    message, everything else by the generated parser, all through one framing."""
    data = b"".join(bytes((len(raw),)) + raw for raw in raws)
    decoders.store_blob_stream(data)


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_streamed_store_and_certify_parts(raws: list[bytes]) -> None:
    """StoreAndCertify's messages read as the node reads them: whole slivers in the start
    part, data parts as views of the message, all through one framing."""
    data = b"".join(bytes((len(raw),)) + raw for raw in raws)
    decoders.store_and_certify_stream(data)


_LIMITS = framing.StreamLimits(max_sliver_bytes=1000, max_stream_bytes=4000, max_items=8)


@FUZZ
@given(st.binary(min_size=32, max_size=32))
def test_blob_ids_from_requests(raw: bytes) -> None:
    BlobId(raw)  # any 32 bytes is an ID; anything else is refused by the service


@FUZZ
@given(st.binary(max_size=800))
def test_inconsistency_proofs(data: bytes) -> None:
    """Proofs that peers send when they call a blob invalid: parsed, then checked."""
    decoders.inconsistency_proof(data)


@FUZZ
@given(st.lists(st.binary(max_size=200), max_size=8))
def test_shard_batches(raws: list[bytes]) -> None:
    """SyncShard answers as the receiving node assembles them (records, slivers, end)."""
    decoders.shard_batch(b"".join(bytes([len(r)]) + r for r in raws))


@FUZZ
@given(st.binary(max_size=400))
def test_certificates_from_protobuf_then_verified(data: bytes) -> None:
    decoders.certificate_pb(data)
