"""The Python client API: store, read and inspect blobs.

Who calls it: the ``walrus`` CLI, applications, tests and benchmarks::

    async with WalrusClient(client_config.load()) as client:
        result = await client.store(b"hello", epochs=3)
        data = await client.read(result.blob_id)

**Store**: encode; send every shard owner, concurrently, one ``StoreBlob`` stream carrying
the metadata, its slivers and the registration, which the node answers with its signed
confirmation; check each confirmation. The moment confirmations cover ``n - f`` shards
they are combined into the certificate, which each node is sent as soon as its own upload
is over (at once for those done already), so no node waits for the slowest upload
(client/store_round.py). Once nodes holding ``n - f`` shards accepted the certificate,
the nodes still busy get a grace period (half the time that took, at least 0.5 s); uploads
still under way then are cut off, and those nodes recover their slivers themselves from
their peers. The store returns after that tail, so what follows it (a delete, an extend,
a read from any node) cannot overtake the store on a node that keeps pace.

**Read**: metadata from the first node whose answer hashes to the blob ID; at the same
time (which node holds which sliver follows from the blob ID alone) primary slivers,
systematic ones first, ``n - 2f`` requests at a time plus one more for every failure and
hedged requests for slow nodes; each sliver is verified against the metadata as soon as
both are in, and the blob is decoded with the consistency check. A blob found
inconsistently encoded (by that check, or by nodes holding more than ``f`` shards)
raises :class:`InvalidBlobError`.

**Extend** confirms a later end epoch of one registration (the permanent one, or an
owner's deletable one) and checks every confirmation as ``store`` does. **Delete**
removes the owner's own deletable registration; a blob ID may carry several
registrations of different owners, and its data stays while any lives.

Up to ``f`` shards' worth of nodes may be down, slow or lying: every failure and every
piece of bad data is reported in the result's ``problems``, not raised, as long as the
operation can still succeed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import mmap
import os
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import BinaryIO

from walrus_node.client import blob_file, primary_fetch, store_round
from walrus_node.client import config as config_mod
from walrus_node.client import stream as stream_mod
from walrus_node.codec import decoder, encoder
from walrus_node.codec import errors as codec_errors
from walrus_node.codec import metadata as metadata_mod
from walrus_node.codec.metadata import BlobId, BlobMetadata
from walrus_node.codec.params import EncodingParams, SliverType
from walrus_node.committee.member import Member
from walrus_node.protocol import committee_file, keys, messages
from walrus_node.protocol.committee_file import ActiveCommittees
from walrus_node.protocol.errors import PeerError
from walrus_node.protocol.messages import BlobRegistration, Certificate, Confirmation
from walrus_node.protocol.views import BlobStatus, NodeInfo
from walrus_node.transport import framing, store_call, tls
from walrus_node.transport.client import ChannelPool, NodeClient, RpcError

__all__ = [
    "BlobGoneError",
    "BlobNotFoundError",
    "ClientError",
    "InvalidBlobError",
    "NotEnoughConfirmationsError",
    "ReadResult",
    "StoreData",
    "StoreResult",
    "UnrecoverableBlobError",
    "WalrusClient",
]

Progress = Callable[[int], None]
"""Called with a number of bytes just transferred."""

StoreData = (
    bytes | bytearray | memoryview | mmap.mmap | os.PathLike[str] | io.BufferedIOBase | io.RawIOBase
)
"""What :meth:`WalrusClient.store` stores: bytes, or a file (a path, or a binary file open
for reading). A ``str`` is refused: it could be meant as either."""

WRITE_BYTES = 1 << 20
""":meth:`WalrusClient.read_into` writes rows smaller than this together, this many bytes
at a time (one hop to a thread per write: at 1000 shards a 1 MiB blob has 334 rows)."""


class ClientError(Exception):
    """Base of the client's errors."""


class NotEnoughConfirmationsError(ClientError):
    def __init__(self, weight: int, needed: int, problems: Sequence[str]) -> None:
        super().__init__(
            f"confirmations cover {weight} shards, a certificate needs {needed}; "
            + "; ".join(problems)
        )
        self.problems = list(problems)


class UnrecoverableBlobError(ClientError):
    """Not enough verified data could be fetched to rebuild the blob."""

    def __init__(self, message: str, problems: Sequence[str]) -> None:
        super().__init__(message + ("; " + "; ".join(problems) if problems else ""))
        self.problems = list(problems)


class BlobNotFoundError(UnrecoverableBlobError):
    """Nodes holding a quorum of shards answered that they do not know the blob."""


class BlobGoneError(ClientError):
    """The blob's data is gone: ``state`` is "expired", "deleted" or "invalid"."""

    def __init__(self, blob_id: BlobId, state: str) -> None:
        super().__init__(f"blob {blob_id} is {state}")
        self.state = state


class InvalidBlobError(BlobGoneError):
    """The blob was proven inconsistently encoded: it can never be read. Raised when
    nodes holding more than ``f`` shards say so (at least one honest node checked the
    proof), or when decoding verified slivers shows it."""

    def __init__(self, blob_id: BlobId) -> None:
        super().__init__(blob_id, "invalid")


@dataclasses.dataclass
class StoreResult:
    blob_id: BlobId
    certificate: Certificate
    encoded_size: int
    confirmed_shards: int
    certified_by: int
    """Nodes that accepted the certificate."""
    problems: list[str]
    """What went wrong, one line per node and step (a node cut off after the grace
    period included)."""
    timings: dict[str, float]


@dataclasses.dataclass
class ReadResult:
    data: bytes
    problems: list[str]
    timings: dict[str, float]
    fell_back: bool = False
    """A ranged read that could not have its covering pieces and read the blob whole."""


def _encode(data: StoreData, n_shards: int, read_progress: Progress | None) -> encoder.EncodedBlob:
    """Bytes encoded as they are; a file encoded as it is read."""
    if isinstance(data, str):
        raise ClientError("a str is neither bytes nor a file: store text.encode() or Path(name)")
    if isinstance(data, bytes | bytearray | memoryview | mmap.mmap):
        with memoryview(data) as view:  # released at once: a map can then be closed
            return encoder.encode(view, n_shards)
    return blob_file.encode_file(data, n_shards, read_progress)


def _check_confirmation(
    member: Member, confirmation: Confirmation, expected: tuple[int, bytes, BlobRegistration]
) -> None:
    """Refuse a confirmation that is not ``member``'s valid signature of ``expected``
    (epoch, blob ID, registration)."""
    got = (confirmation.epoch, confirmation.blob_id, confirmation.registration)
    if got != expected or confirmation.signer != member.public_key or not confirmation.is_valid():
        raise ClientError(f"{member.name} returned an invalid confirmation")


class WalrusClient:
    def __init__(self, cfg: config_mod.ClientConfig) -> None:
        self.config = cfg
        credentials = None
        if cfg.tls_ca_file is not None:
            try:
                credentials = tls.ClientTls.load(
                    cfg.tls_ca_file, cfg.tls_cert_file, cfg.tls_key_file
                )
            except tls.TlsError as e:
                raise config_mod.ClientConfigError(str(e)) from e
        self._pool = ChannelPool(
            timeout=cfg.timeout_seconds, credentials=credentials, dns_server=cfg.dns_server
        )
        self._committees: ActiveCommittees | None = None

    async def __aenter__(self) -> WalrusClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._pool.close()

    # --- committee ---------------------------------------------------------------------------

    async def committees(self, refresh: bool = False) -> ActiveCommittees:
        """The committee to talk to, from the configured source."""
        if self._committees is not None and not refresh:
            return self._committees
        cfg = self.config
        if cfg.committee_file is not None:
            try:
                data = await asyncio.to_thread(cfg.committee_file.read_bytes)
            except OSError as e:
                raise ClientError(f"cannot read committee file {cfg.committee_file}: {e}") from e
            try:
                self._committees = committee_file.parse(data)
            except committee_file.CommitteeFileError as e:
                raise ClientError(f"{cfg.committee_file}: {e}") from e
            return self._committees
        answers: dict[bytes, int] = {}
        problems = []
        for entry in cfg.nodes:
            name, _, endpoint = entry.rpartition("@")
            try:
                raw = await self._pool.peer(endpoint, name).get_committee()
            except PeerError as e:
                problems.append(str(e))
                continue
            answers[raw] = answers.get(raw, 0) + 1
        if not answers:
            raise ClientError("no node answered with a committee: " + "; ".join(problems))
        best, votes = max(answers.items(), key=lambda kv: kv[1])
        if len(answers) > 1 and votes * 2 <= sum(answers.values()):
            raise ClientError("the configured nodes disagree about the committee")
        self._committees = committee_file.parse(best)
        return self._committees

    def _client(self, member: Member) -> NodeClient:
        return self._pool.peer(member.endpoint, member.name)

    # --- store -------------------------------------------------------------------------------

    async def store(
        self,
        data: StoreData,
        *,
        epochs: int = 1,
        deletable: bool = False,
        owner: keys.KeyPair | keys.PublicOwner | None = None,
        progress: Progress | None = None,
        read_progress: Progress | None = None,
    ) -> StoreResult:
        """Store ``data``: any bytes-like object, or a file (a path, or a binary file open
        for reading, stored from its position to its end). A file is encoded as it is read
        (client/blob_file.py), so the store holds its encoded size, never the file beside
        it; a file that changes while read fails the store (:class:`ClientError`).
        ``progress`` is told the bytes of each message uploaded, ``read_progress`` (from
        the encoding's thread) those of each read of a file."""
        if epochs < 1:
            raise ClientError("epochs: must be at least 1")
        if deletable and owner is None:
            raise ClientError("a deletable blob needs an owner key")
        c = await self.committees()
        if epochs > c.max_epochs_ahead:
            raise ClientError(f"epochs: at most {c.max_epochs_ahead} epochs ahead")
        timings: dict[str, float] = {}
        started = time.perf_counter()
        try:
            encoded = await asyncio.to_thread(_encode, data, c.n_shards, read_progress)
        except (codec_errors.ParameterError, blob_file.BlobFileError) as e:
            raise ClientError(str(e)) from e
        length = encoded.metadata.unencoded_length
        timings["encode"] = time.perf_counter() - started
        if isinstance(data, mmap.mmap):
            # The slivers hold every byte now: the file's pages leave the resident set
            # (they stay in the page cache) instead of adding the file's size to the
            # memory held while uploading.
            data.madvise(mmap.MADV_DONTNEED)
        registration = BlobRegistration(
            end_epoch=c.epoch + epochs,
            deletable=deletable,
            owner_public_key=owner.public_key if owner is not None else b"",
            unencoded_length=length,
        )
        live = True

        def report(n: int) -> None:  # quiet once the store returned
            if live and progress is not None:
                progress(n)

        calls: dict[str, store_call.StoreCall] = {}  # calls waiting for the certificate
        metadata = encoded.metadata.to_bytes()  # once: 64 KB at 1000 shards

        async def upload(member: Member) -> Confirmation:
            async with semaphore:
                return await self._upload_to(
                    member, encoded, metadata, registration, c.epoch, report, calls
                )

        async def submit(member: Member, certificate: Certificate) -> object:
            return await self._submit_to(member, certificate, calls.pop(member.name, None))

        semaphore = asyncio.Semaphore(self.config.max_concurrent_uploads)
        round_ = store_round.StoreRound(c, encoded.params.quorum, upload, submit)
        round_.start()
        try:
            await round_.wait()
            # The tail: the nodes still busy get a grace period, then uploads still under
            # way are cut off (those nodes recover from their peers).
            tail_started = time.perf_counter()
            await round_.settle()
            timings["tail"] = time.perf_counter() - tail_started
        except BaseException:
            round_.cancel()
            raise
        finally:
            live = False
            store_call.cancel_all(calls.values())  # no certificate was given to these
        timings.update(round_.timings)
        problems = round_.problems
        weight = round_.weight()
        if round_.certificate is None:
            raise NotEnoughConfirmationsError(weight, encoded.params.quorum, problems)
        if round_.certified_by == 0:
            raise ClientError("no node accepted the certificate: " + "; ".join(problems))
        return StoreResult(
            encoded.blob_id,
            round_.certificate,
            encoded.params.encoded_size(length),
            weight,
            round_.certified_by,
            problems,
            timings,
        )

    async def _upload_to(
        self,
        member: Member,
        encoded: encoder.EncodedBlob,
        metadata: bytes,
        registration: BlobRegistration,
        epoch: int,
        progress: Progress | None,
        calls: dict[str, store_call.StoreCall],
    ) -> Confirmation:
        """Metadata, this member's slivers and its confirmation (checked) in one
        ``StoreAndCertify`` call, left in ``calls`` to carry the certificate later; a
        node that does not know it gets ``StoreBlob`` (and the certificate by
        ``SubmitCertificate``), and one that knows neither the three calls they replace
        (StoreMetadata, StoreSlivers, GetConfirmation)."""
        params, blob_id = encoded.params, encoded.blob_id.raw

        def items() -> Iterator[tuple[SliverType, int, framing.SliverData]]:
            # Views into the encoded blob's matrix, no copies: a secondary sliver goes as
            # its symbols, each chunk of the stream copied as gRPC takes it.
            for shard in member.shards:
                pair = params.pair_on_shard(blob_id, shard)
                primary = params.sliver_in_pair(SliverType.PRIMARY, pair)
                secondary = params.sliver_in_pair(SliverType.SECONDARY, pair)
                yield SliverType.PRIMARY, primary, encoded.primary(primary)
                yield SliverType.SECONDARY, secondary, encoded.secondary_pieces(secondary)

        client = self._client(member)
        call = client.store_call()
        try:
            *_, confirmation = await call.upload(blob_id, metadata, registration, items(), progress)
        except RpcError as e:
            call.cancel()
            if e.code != "UNIMPLEMENTED" and not call.unknown:
                raise
            confirmation = await self._upload_older(client, encoded, registration, items, progress)
            _check_confirmation(member, confirmation, (epoch, blob_id, registration))
            return confirmation
        except BaseException:
            call.cancel()
            raise
        try:
            _check_confirmation(member, confirmation, (epoch, blob_id, registration))
        except ClientError:
            call.cancel()
            raise
        calls[member.name] = call
        return confirmation

    async def _submit_to(
        self, member: Member, certificate: Certificate, call: store_call.StoreCall | None
    ) -> tuple[bool, bool]:
        """The certificate to ``member``: on its upload's call if that waits for it, else
        by SubmitCertificate (the upload failed, or the node does not know the call)."""
        if call is not None:
            return await call.certify(certificate)
        return await self._client(member).submit_certificate(certificate)

    @staticmethod
    async def _upload_older(
        client: NodeClient,
        encoded: encoder.EncodedBlob,
        registration: BlobRegistration,
        items: Callable[[], Iterator[tuple[SliverType, int, framing.SliverData]]],
        progress: Progress | None,
    ) -> Confirmation:
        """The upload to a node that does not know StoreAndCertify: StoreBlob, or on a
        node older still the three calls it replaces."""
        blob_id, metadata = encoded.blob_id.raw, encoded.metadata.to_bytes()
        try:
            *_, confirmation = await client.store_blob(
                blob_id, metadata, registration, items(), progress
            )
        except RpcError as e:
            if e.code != "UNIMPLEMENTED":
                raise
            await client.store_metadata(blob_id, metadata)
            await client.store_slivers(blob_id, list(items()), progress)
            confirmation = await client.get_confirmation(blob_id, registration)
        return confirmation

    async def _certify(
        self, c: ActiveCommittees, certificate: Certificate, problems: list[str]
    ) -> int:
        """Send the certificate to every member; return how many accepted it."""
        results = await asyncio.gather(
            *(self._client(m).submit_certificate(certificate) for m in c.current.members),
            return_exceptions=True,
        )
        accepted = 0
        for member, result in zip(c.current.members, results, strict=True):
            if isinstance(result, BaseException):
                problems.append(f"{member.name}: certificate not accepted: {result}")
            else:
                accepted += 1
        return accepted

    # --- read --------------------------------------------------------------------------------

    async def _metadata(
        self, blob_id: BlobId, c: ActiveCommittees, problems: list[str]
    ) -> BlobMetadata:
        members = list(c.current.members)
        random.shuffle(members)
        if c.previous is not None:
            known = {m.name for m in members}
            members += [m for m in c.previous.members if m.name not in known]
        gone: dict[str, int] = {}
        missing_weight = 0
        for member in members:
            try:
                data = await self._client(member).get_metadata(blob_id.raw)
                return metadata_mod.verify_metadata(blob_id, data, c.n_shards)
            except RpcError as e:
                if e.code == "NOT_FOUND":
                    missing_weight += len(member.shards)
                    if e.blob_state:
                        gone[e.blob_state] = gone.get(e.blob_state, 0) + len(member.shards)
                problems.append(f"{member.name}: {e.code}: {e.details}")
            except PeerError as e:
                problems.append(f"{member.name}: {e}")
            except codec_errors.InvalidMetadataError as e:
                problems.append(f"{member.name}: returned bad metadata: {e}")
            params = EncodingParams(c.n_shards)
            for state, w in gone.items():
                if w >= params.validity:
                    if state == "invalid":
                        raise InvalidBlobError(blob_id)
                    raise BlobGoneError(blob_id, state)
            if missing_weight >= params.quorum and c.previous is None:
                break
        if missing_weight >= EncodingParams(c.n_shards).quorum:
            raise BlobNotFoundError(f"blob {blob_id} is not stored", problems)
        raise UnrecoverableBlobError(f"no node returned valid metadata for {blob_id}", problems)

    async def read(self, blob_id: BlobId, *, progress: Progress | None = None) -> ReadResult:
        c = await self.committees()
        problems: list[str] = []
        timings: dict[str, float] = {}
        started = time.perf_counter()

        async def metadata() -> BlobMetadata:
            verified = await self._metadata(blob_id, c, problems)
            timings["metadata"] = time.perf_counter() - started
            return verified

        # The slivers are asked for at once, not after the metadata: which node holds
        # which sliver follows from the blob ID and the committee alone. Each is
        # verified against the metadata once that is in.
        pending = asyncio.ensure_future(metadata())
        try:
            return await self._read_slivers(blob_id, pending, c, problems, timings, progress)
        except BaseException:
            error = pending.exception() if pending.done() and not pending.cancelled() else None
            if error is not None:
                raise error from None  # a missing blob: say so, not "no slivers verified"
            raise
        finally:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)

    async def _read_slivers(
        self,
        blob_id: BlobId,
        metadata_source: BlobMetadata | asyncio.Future[BlobMetadata],
        c: ActiveCommittees,
        problems: list[str],
        timings: dict[str, float],
        progress: Progress | None,
    ) -> ReadResult:
        """The rest of :meth:`read`: the metadata is verified already, or still coming
        (each sliver is then verified once it is in)."""
        if isinstance(metadata_source, BlobMetadata):
            known: asyncio.Future[BlobMetadata] = asyncio.get_running_loop().create_future()
            known.set_result(metadata_source)
            metadata_source = known
        started = time.perf_counter()
        verified = await self._fetch_primaries(blob_id, metadata_source, c, problems, progress)
        metadata = await metadata_source
        timings["slivers"] = time.perf_counter() - started
        need = metadata.params.rows
        if len(verified) < need:
            raise UnrecoverableBlobError(
                f"only {len(verified)} of the {need} primary slivers needed could be verified",
                problems,
            )
        started = time.perf_counter()
        try:
            data = await asyncio.to_thread(
                decoder.decode_primary, metadata, verified, verified=True
            )
        except codec_errors.InconsistentEncodingError as e:
            # Every sliver used was verified against the metadata: this is proof enough.
            raise InvalidBlobError(blob_id) from e
        timings["decode"] = time.perf_counter() - started
        return ReadResult(data, problems, timings)

    async def read_into(
        self,
        blob_id: BlobId,
        out: BinaryIO,
        *,
        window: int = 4,
        progress: Progress | None = None,
    ) -> ReadResult:
        """Write the blob to ``out`` as its rows arrive, verified and in order, holding at
        most ``window`` primary slivers, or as many as fit in ``stream.AHEAD_BYTES`` if
        that is more (and no more than fit in ``stream.WINDOW_BYTES``, at least one),
        besides the one being written (client/stream.py); rows smaller than
        :data:`WRITE_BYTES` are written together, up to that many bytes at a time;
        the result's ``data`` is empty and ``timings["bytes"]`` is the blob's length.

        The checks are those of :meth:`read` when every systematic sliver can be had
        (each is verified against the metadata, and the padding after the blob must be
        zero). When one cannot, the stream falls back to :meth:`read` (any ``n - 2f``
        slivers, decoded with the consistency check), which holds the whole blob, and
        writes the rest from it. On an error part of the blob may have been written."""
        started = time.perf_counter()
        blob = await self.open(blob_id, window=window)
        written = 0
        pending: list[bytes] = []  # small rows, written together
        size = 0

        async def write() -> None:
            nonlocal written, size
            await asyncio.to_thread(out.writelines, pending)
            written += size
            if progress is not None:
                progress(size)
            pending.clear()  # not held while the next rows arrive
            size = 0

        try:
            async for chunk in blob.chunks():
                pending.append(chunk)
                size += len(chunk)
                del chunk
                if size >= WRITE_BYTES:
                    await write()
            if pending:
                await write()
        except codec_errors.InconsistentEncodingError as e:
            raise InvalidBlobError(blob_id) from e
        timings = {"read": time.perf_counter() - started, "bytes": float(written)}
        return ReadResult(b"", blob.problems, timings)

    async def open(self, blob_id: BlobId, *, window: int = 2) -> stream_mod.BlobStream:
        """The blob's verified metadata, and a stream of its bytes (whole or a range) that
        fetches only the slivers or symbols covering what is asked (client/stream.py)."""
        c = await self.committees()
        problems: list[str] = []
        metadata = await self._metadata(blob_id, c, problems)

        async def whole() -> bytes:  # the metadata is already verified: not asked again
            return (await self._read_slivers(blob_id, metadata, c, blob.problems, {}, None)).data

        def ask(member: Member, indices: list[int]) -> AsyncIterator[tuple[int, bytes]]:
            return primary_fetch.slivers_of(self._client(member), blob_id.raw, indices)

        blob = stream_mod.BlobStream(blob_id, metadata, c, self._client, whole, ask, window=window)
        blob.problems.extend(problems)
        return blob

    async def read_range(self, blob_id: BlobId, start: int, end: int) -> ReadResult:
        """Bytes ``[start, end)`` of the blob. Only the slivers and symbols covering the
        range are fetched (``GetSliverSymbols`` for parts of a row), each verified against
        the metadata before any byte is returned. Where the owner of a covering primary
        sliver does not answer or sends something that fails verification, the blob is
        read whole (any ``n - 2f`` slivers, decoded with the consistency check) and cut;
        ``ReadResult.fell_back`` says so. ValueError if the range is not within the blob."""
        started = time.perf_counter()
        blob = await self.open(blob_id)
        opened = time.perf_counter()
        data = b"".join([chunk async for chunk in blob.chunks(start, end)])
        timings = {"metadata": opened - started, "range": time.perf_counter() - opened}
        return ReadResult(data, blob.problems, timings, fell_back=blob.fell_back)

    async def _fetch_primaries(
        self,
        blob_id: BlobId,
        metadata_source: asyncio.Future[BlobMetadata],
        c: ActiveCommittees,
        problems: list[str],
        progress: Progress | None,
    ) -> dict[int, bytes]:
        """Fetch and verify primary slivers until ``n - 2f`` verified ones are in hand
        (:mod:`.primary_fetch`)."""
        params = EncodingParams(c.n_shards)  # the metadata's: it was checked against n

        def owners(index: int) -> Sequence[Member]:
            pair = params.pair_of(SliverType.PRIMARY, index)
            return stream_mod.read_owners(c, params.shard_of_pair(blob_id.raw, pair))

        def ask(member: Member, indices: list[int]) -> AsyncIterator[tuple[int, bytes]]:
            return primary_fetch.slivers_of(self._client(member), blob_id.raw, indices, progress)

        fetch = primary_fetch.PrimaryFetch(params, owners, metadata_source, ask, problems)
        return await fetch.run()

    # --- lifetime ------------------------------------------------------------------------------

    async def _registration(self, blob_id: BlobId, owner: bytes | None) -> BlobRegistration:
        """The registration to extend, as the committee reports it: the deletable one of
        ``owner`` if given, else the permanent one (longest wins across nodes); without a
        permanent one, the longest registration."""
        best: BlobRegistration | None = None
        longest: BlobRegistration | None = None
        states: set[str] = set()
        for _, status in await self.status(blob_id):
            if isinstance(status, str):
                continue
            states.add(status.state.value)
            if status.state.value != "certified":
                continue
            for reg in status.registrations:
                if longest is None or reg.end_epoch > longest.end_epoch:
                    longest = reg
                wanted = (
                    not reg.deletable
                    if owner is None
                    else reg.deletable and reg.owner_public_key == owner
                )
                if wanted and (best is None or reg.end_epoch > best.end_epoch):
                    best = reg
        if best is None and owner is None:
            best = longest
        if best is None:
            gone = states & {"expired", "deleted", "invalid"}
            if "invalid" in gone:
                raise InvalidBlobError(blob_id)
            if gone:
                raise BlobGoneError(blob_id, sorted(gone)[0])
            if owner is not None:
                raise ClientError(f"blob {blob_id} has no certified registration of this owner")
            raise ClientError(f"blob {blob_id} is not certified")
        return best

    async def extend(
        self, blob_id: BlobId, epochs: int, *, owner: bytes | None = None
    ) -> StoreResult:
        """Keep a certified blob ``epochs`` more epochs: nodes confirm the later end epoch of
        one registration (the permanent one, or ``owner``'s deletable one), and the
        confirmations are checked as when storing: a node's confirmation counts only if it
        is a valid signature of that node over this epoch, blob and registration."""
        if epochs < 1:
            raise ClientError("epochs: must be at least 1")
        c = await self.committees(refresh=True)
        old = await self._registration(blob_id, owner)
        end = old.end_epoch + epochs
        if end > c.epoch + c.max_epochs_ahead:
            raise ClientError(
                f"epochs: the blob would end at epoch {end}, more than "
                f"{c.max_epochs_ahead} epochs after epoch {c.epoch}"
            )
        registration = dataclasses.replace(old, end_epoch=end)
        problems: list[str] = []

        async def confirm(member: Member) -> Confirmation:
            confirmation = await self._client(member).get_confirmation(blob_id.raw, registration)
            expected = (c.epoch, blob_id.raw, registration, member.public_key)
            got = (
                confirmation.epoch,
                confirmation.blob_id,
                confirmation.registration,
                confirmation.signer,
            )
            if got != expected or not confirmation.is_valid():
                raise ClientError(f"{member.name} returned an invalid confirmation")
            return confirmation

        members = [m for m in c.current.members if m.shards]
        results = await asyncio.gather(*(confirm(m) for m in members), return_exceptions=True)
        confirmations = []
        for member, result in zip(members, results, strict=True):
            if isinstance(result, BaseException):
                problems.append(f"{member.name}: {result}")
            else:
                confirmations.append(result)
        params = EncodingParams(c.n_shards)
        weight = sum(c.current.shard_count_of(x.signer) for x in confirmations)
        if weight < params.quorum:
            raise NotEnoughConfirmationsError(weight, params.quorum, problems)
        certificate = Certificate.from_confirmations(confirmations)
        accepted = await self._certify(c, certificate, problems)
        encoded = params.encoded_size(registration.unencoded_length)
        return StoreResult(blob_id, certificate, encoded, weight, accepted, problems, {})

    async def delete(self, blob_id: BlobId, owner: keys.KeyPair) -> tuple[int, list[str]]:
        """Delete a deletable blob on every node; returns (nodes that deleted it, problems).

        The deletion is signed in the epoch of the committee fetched here. A node whose
        view is an epoch ahead, where the owner's registration was certified in that
        later epoch and the blob already remembers the most early deletions, refuses it
        (``RESOURCE_EXHAUSTED``, "already remembers the most deletions ..."): that node
        is listed in ``problems`` with its reason, and deleting again (signed in the
        current epoch) removes the registration there."""
        c = await self.committees(refresh=True)
        signature = owner.sign(
            messages.deletion_message(c.network_id, c.epoch, blob_id.raw, owner.public_key)
        )
        members = list(c.current.members)
        if c.previous is not None:
            members += [m for m in c.previous.members if m.name not in c.current]
        results = await asyncio.gather(
            *(self._client(m).delete_blob(blob_id.raw, c.epoch, signature) for m in members),
            return_exceptions=True,
        )
        problems = [
            f"{m.name}: {r}"
            for m, r in zip(members, results, strict=True)
            if isinstance(r, BaseException)
        ]
        deleted = sum(1 for r in results if not isinstance(r, BaseException))
        if deleted == 0:
            raise ClientError("no node deleted the blob: " + "; ".join(problems))
        return deleted, problems

    # --- health --------------------------------------------------------------------------------

    async def health(self) -> list[tuple[Member, NodeInfo | str]]:
        """Each current member's own report (status, epoch, shards, backlog), or why it
        could not be asked."""
        c = await self.committees(refresh=True)

        async def one(member: Member) -> NodeInfo | str:
            try:
                info: NodeInfo = await self._client(member).get_node_info()
            except PeerError as e:
                return str(e)
            return info

        results = await asyncio.gather(*(one(m) for m in c.current.members))
        return list(zip(c.current.members, results, strict=True))

    # --- status --------------------------------------------------------------------------------

    async def status(self, blob_id: BlobId) -> list[tuple[Member, BlobStatus | str]]:
        """Each member's view of a blob (or why it could not be asked)."""
        c = await self.committees()

        async def one(member: Member) -> BlobStatus | str:
            try:
                status: BlobStatus = await self._client(member).get_blob_status(blob_id.raw)
            except PeerError as e:
                return str(e)
            return status

        results = await asyncio.gather(*(one(m) for m in c.current.members))
        return list(zip(c.current.members, results, strict=True))
