"""Every decoder of network bytes as a fuzz target: raw bytes in, a valid value or the
decoder's documented error out.

Who calls it: :mod:`.atheris_main` (coverage-guided fuzzing with atheris, short in the
test suite, long by hand) and :mod:`.test_network_decoders` (Hypothesis). A target
returns normally for valid input and for input refused with its documented error; any
other exception is a bug that the fuzzer reports with the input that caused it.

Targets that take a stream (slivers, symbols, shard batches) read their input as
messages, each prefixed by one length byte (:func:`split`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from google.protobuf.message import DecodeError

from walrus_node.codec import encoder, inconsistency, recovery, slivers
from walrus_node.codec import errors as codec_errors
from walrus_node.codec import metadata as metadata_mod
from walrus_node.codec.metadata import BlobMetadata
from walrus_node.codec.params import SliverType
from walrus_node.protocol import committee_file, errors, messages
from walrus_node.transport import client, convert, data_parts, framing
from walrus_proto.node.v1 import node_pb2 as pb

__all__ = ["TARGETS", "run", "split"]

ENC = encoder.encode(bytes(range(256)) * 12, 7)
"""A real blob (n = 7) whose metadata slivers, symbols and proofs are checked against."""
LIMITS = framing.StreamLimits(max_sliver_bytes=1000, max_stream_bytes=4000, max_items=8)


def split(data: bytes) -> list[bytes]:
    """Messages of a fuzzed stream: each is one length byte then that many bytes."""
    out: list[bytes] = []
    i = 0
    while i < len(data):
        n = data[i]
        out.append(data[i + 1 : i + 1 + n])
        i += 1 + n
    return out


class _Weights:
    n_shards = 7

    def shard_count_of(self, public_key: bytes) -> int:
        return 1 if public_key[:1] == b"\x01" else 0


def metadata(data: bytes) -> None:
    with contextlib.suppress(codec_errors.InvalidMetadataError):
        BlobMetadata.from_bytes(data)
    with contextlib.suppress(codec_errors.InvalidMetadataError):
        metadata_mod.verify_metadata(ENC.blob_id, data, 7)


def sliver(data: bytes) -> None:
    if len(data) < 2:
        return
    sliver_type = SliverType.PRIMARY if data[0] & 1 else SliverType.SECONDARY
    with contextlib.suppress(codec_errors.InvalidSliverError):
        slivers.verify_sliver(ENC.metadata, sliver_type, data[1] - 3, data[2:])


def symbol_stream(data: bytes) -> None:
    """GetRecoverySymbols answers: framed, then each symbol verified."""
    frames = framing.SymbolFrames(LIMITS, "fuzz")
    with contextlib.suppress(errors.NodeError, DecodeError, codec_errors.InvalidSymbolError):
        for raw in split(data):
            symbol = frames.add(pb.RecoverySymbolPart.FromString(raw))
            if symbol is not None:
                recovery.verify_symbol(ENC.metadata, symbol)
        frames.end()


def sliver_stream(data: bytes) -> None:
    """Uploads and GetSliver answers: one framing for both."""
    frames = framing.SliverFrames(LIMITS, "fuzz")
    with contextlib.suppress(errors.NodeError, DecodeError):
        for raw in split(data):
            part = pb.SliverPart.FromString(raw)
            if part.WhichOneof("part") == "header":
                frames.header(part.header)
            else:
                frames.data(part.data)
        frames.end()


def store_blob_stream(data: bytes) -> None:
    """A StoreBlob stream's sliver messages as the node reads them (data parts as views,
    :mod:`walrus_node.transport.data_parts`), through the same framing."""
    frames = framing.SliverFrames(LIMITS, "fuzz")
    with contextlib.suppress(errors.NodeError, DecodeError):
        for raw in split(data):
            part = data_parts.parse(raw)
            if isinstance(part, data_parts.Chunk):
                sliver = frames.data(part.data)
                assert sliver is None or isinstance(sliver.data, bytes)
            elif part.WhichOneof("part") == "header":
                frames.header(part.header)
        frames.end()


def store_and_certify_stream(data: bytes) -> None:
    """A StoreAndCertify stream's upload messages as the node reads them: whole slivers in
    the start part, then header and data parts (data as views), through one framing."""
    frames = framing.SliverFrames(LIMITS, "fuzz")
    with contextlib.suppress(errors.NodeError, DecodeError):
        for raw in split(data):
            part = data_parts.parse_store_and_certify(raw)
            if isinstance(part, data_parts.Chunk):
                frames.data(part.data)
                continue
            which = part.WhichOneof("part")
            if which == "start":
                for whole in part.start.slivers:
                    frames.header(whole.header)
                    if len(whole.data) != whole.header.size:
                        raise errors.InvalidRequest("a whole sliver's size differs")
                    assert frames.data(whole.data) is not None
            elif which == "header":
                frames.header(part.header)
            elif which == "certificate":
                convert.certificate_from_pb(part.certificate)
        frames.end()


def shard_batch(data: bytes) -> None:
    """A SyncShard answer as the receiving node assembles it."""
    batch = client._ShardBatchAssembler(LIMITS)  # the receiving side as the node runs it
    with contextlib.suppress(errors.NodeError, DecodeError):
        for raw in split(data):
            batch.add(pb.SyncShardPart.FromString(raw))
        batch.batch()


def certificate(data: bytes) -> None:
    try:
        parsed = messages.Certificate.from_bytes(data)
    except messages.CertificateError:
        return
    with contextlib.suppress(messages.CertificateError):
        messages.verify_certificate(parsed, _Weights())


def certificate_pb(data: bytes) -> None:
    try:
        parsed = convert.certificate_from_pb(pb.Certificate.FromString(data))
    except (DecodeError, errors.NodeError):
        return
    with contextlib.suppress(messages.CertificateError):
        messages.verify_certificate(parsed, _Weights())


def inconsistency_proof(data: bytes) -> None:
    try:
        proof = inconsistency.InconsistencyProof.from_bytes(data)
    except codec_errors.InvalidProofError:
        return
    with contextlib.suppress(codec_errors.InvalidProofError):
        inconsistency.verify(ENC.metadata, proof)


def committee(data: bytes) -> None:
    with contextlib.suppress(committee_file.CommitteeFileError):
        committee_file.parse(data)


def _conversion(message: type[object], fn: Callable[[object], object]) -> Callable[[bytes], None]:
    def target(data: bytes) -> None:
        try:
            parsed = message.FromString(data)  # type: ignore[attr-defined]
        except DecodeError:
            return
        with contextlib.suppress(errors.NodeError):
            fn(parsed)

    return target


TARGETS: dict[str, Callable[[bytes], None]] = {
    "metadata": metadata,
    "sliver": sliver,
    "symbol_stream": symbol_stream,
    "sliver_stream": sliver_stream,
    "store_blob_stream": store_blob_stream,
    "store_and_certify_stream": store_and_certify_stream,
    "shard_batch": shard_batch,
    "certificate": certificate,
    "certificate_pb": certificate_pb,
    "inconsistency_proof": inconsistency_proof,
    "committee_file": committee,
    "registration_pb": _conversion(pb.BlobRegistration, convert.registration_from_pb),  # type: ignore[arg-type]
    "confirmation_pb": _conversion(pb.Confirmation, convert.confirmation_from_pb),  # type: ignore[arg-type]
    "node_info_pb": _conversion(pb.NodeInfo, convert.node_info_from_pb),  # type: ignore[arg-type]
    "blob_status_pb": _conversion(pb.BlobStatus, convert.blob_status_from_pb),  # type: ignore[arg-type]
    "sync_status_pb": _conversion(pb.SyncStatus, convert.sync_status_from_pb),  # type: ignore[arg-type]
}
"""Name -> target. Names are stable: a crash file is replayed with its target's name."""


def run(data: bytes) -> None:
    """All targets behind one entry: the first byte picks the target, the rest is its
    input (so one fuzzing process covers every decoder)."""
    if not data:
        return
    names = sorted(TARGETS)
    TARGETS[names[data[0] % len(names)]](data[1:])
