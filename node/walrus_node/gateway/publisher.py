"""The publisher: ``PUT /v1/blobs``, Walrus's write API over HTTP.

Who calls it: :mod:`walrus_node.gateway.app` mounts :meth:`Publisher.put_blob`.

Query parameters (as Walrus's): ``epochs`` (default 1), ``deletable`` / ``permanent``
(deletable is the default, as in Walrus since 1.33; both at once is a 400), ``force``
(store even if the blob is already certified long enough). Order of work:

1. authenticate (auth.py) and check the token's epoch and size claims against the query
   and ``Content-Length``; refuse a declared length over ``max_body_bytes`` (413);
2. take an upload slot (slots.py: 429 when the queue is full, 503 after waiting);
3. read the body into one buffer, counting against the limits as it arrives (413 / 403
   at the first byte too many);
4. without ``force``: compute its blob ID (one encode) and, if the committee already
   certifies it until at least the wanted epoch with the wanted persistence (permanent,
   or deletable and owned by the same key), answer ``alreadyCertified`` without
   uploading;
5. store it with the client; a deletable blob is owned by the caller's key when the
   request proves one (owner_proof.py), else by the tenant's key (tenants.py).

Answers: ``{"newlyCreated": {"blobObject": {...}, "resourceOperation":
{"registerFromScratch": {...}}, "cost": N}}`` or ``{"alreadyCertified": {"blobId": ...,
"event": null, "endEpoch": N}}`` (permanent; ``"object": <blob ID>`` instead of
``event`` for a deletable one) with camel-case keys as Walrus's publisher sends. There are no Sui
objects here: ``blobObject.id`` and ``storage.id`` are the blob ID.
"""

from __future__ import annotations

import asyncio
from typing import Any

import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response

from walrus_node.client import api
from walrus_node.codec import encoder
from walrus_node.codec import errors as codec_errors
from walrus_node.codec.metadata import BlobId
from walrus_node.codec.params import EncodingParams
from walrus_node.committee import cost as cost_mod
from walrus_node.committee import price
from walrus_node.gateway import auth, owner_proof, problems, slots, tenants
from walrus_node.gateway.settings import GatewaySettings
from walrus_node.protocol import keys
from walrus_node.protocol.committee_file import ActiveCommittees
from walrus_node.protocol.views import BlobStatusState

__all__ = ["Publisher"]

log = structlog.get_logger("walrus.gateway")

_TRUE = {"true", "1", "yes", ""}
_FALSE = {"false", "0", "no"}


class _Refused(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def _flag(request: Request, name: str) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return False
    if value.lower() in _TRUE:
        return True
    if value.lower() in _FALSE:
        return False
    raise _Refused(problems.error(400, "MALFORMED_REQUEST", f"{name}: expected true or false"))


class Publisher:
    def __init__(
        self,
        client: api.WalrusClient,
        settings: GatewaySettings,
        verifier: auth.Verifier | None,
        owners: tenants.TenantKeys,
    ) -> None:
        self._client = client
        self._settings = settings
        self._verifier = verifier
        self._owners = owners
        self.slots = slots.UploadSlots(
            settings.max_concurrent_uploads,
            settings.max_queued_uploads,
            settings.queue_timeout_seconds,
        )

    async def put_blob(self, request: Request) -> Response:
        try:
            return await self._put(request)
        except _Refused as refused:
            return refused.response

    def _query(self, request: Request) -> tuple[int, bool, bool]:
        unknown = set(request.query_params) - {
            "epochs", "deletable", "permanent", "force", "encoding_type"
        }  # fmt: skip
        if unknown:
            raise _Refused(
                problems.error(400, "MALFORMED_REQUEST", f"unknown parameter(s): {sorted(unknown)}")
            )
        raw = request.query_params.get("epochs", "1")
        if not raw.isdigit() or len(raw) > 6 or int(raw) < 1:
            raise _Refused(
                problems.error(400, "MALFORMED_REQUEST", "epochs: expected a positive integer")
            )
        epochs = int(raw)
        if self._settings.max_epochs and epochs > self._settings.max_epochs:
            raise _Refused(
                problems.error(
                    400,
                    "MALFORMED_REQUEST",
                    f"epochs: this publisher stores for at most {self._settings.max_epochs}",
                )
            )
        deletable, permanent = _flag(request, "deletable"), _flag(request, "permanent")
        if deletable and permanent:
            raise _Refused(
                problems.error(
                    400, "INVALID_BLOB_PERSISTENCE", "a blob cannot be deletable and permanent"
                )
            )
        encoding = request.query_params.get("encoding_type", "RS2")
        if encoding != "RS2":
            raise _Refused(problems.error(400, "MALFORMED_REQUEST", "encoding_type: only RS2"))
        return epochs, not permanent, _flag(request, "force")

    def _declared_length(self, request: Request) -> int | None:
        raw = request.headers.get("content-length")
        if raw is None:
            return None
        if not raw.isdigit() or len(raw) > 19:
            raise _Refused(problems.error(400, "MALFORMED_REQUEST", "bad Content-Length"))
        return int(raw)

    async def _put(self, request: Request) -> Response:
        epochs, deletable, force = self._query(request)
        declared = self._declared_length(request)
        try:
            proven = owner_proof.parse(
                request.headers.get(owner_proof.OWNER_HEADER),
                request.headers.get(owner_proof.PROOF_HEADER),
            )
        except owner_proof.OwnerError as e:
            return problems.error(400, "INVALID_OWNER", str(e))
        if proven is not None and not deletable:
            return problems.error(400, "INVALID_OWNER", "a permanent blob has no owner")
        caller = keys.PublicOwner(proven) if proven is not None else None
        claim: auth.Claim | None = None
        if self._verifier is not None:
            try:
                claim = self._verifier.verify(request.headers.get("authorization"))
                claim.check_epochs(epochs)
                if declared is not None:
                    claim.check_size(declared, final=False)
            except auth.AuthError as e:
                if claim is not None:
                    self._verifier.release(claim)
                return problems.error(e.status, e.reason, str(e))
        limit = self._settings.max_body_bytes
        if declared is not None and declared > limit:
            self._release(claim)
            return problems.error(
                413, "BLOB_TOO_LARGE", f"the body has {declared} bytes; at most {limit} accepted"
            )
        try:
            async with self.slots.slot():
                return await self._receive_and_store(
                    request, epochs, deletable, force, claim, caller
                )
        except slots.Busy as e:
            self._release(claim)
            headers = {"Retry-After": "1"} if e.status == 429 else None
            return problems.error(e.status, "TOO_MANY_UPLOADS", str(e), headers)

    def _release(self, claim: auth.Claim | None) -> None:
        if claim is not None and self._verifier is not None:
            self._verifier.release(claim)

    async def _receive(self, request: Request, claim: auth.Claim | None) -> bytearray:
        """The body, received into one buffer: sized by ``Content-Length`` when declared
        (untouched pages cost nothing), grown in place otherwise, and handed to the client
        without a copy. Neither chunks joined at the end nor a ``bytes`` copy of the
        buffer: with the allocator tuned to keep freed blob-sized memory (the CLI's
        ``allocator.tune()``), either leaves the body's size of freed memory resident
        beside the encoding, which cannot reuse it (BENCHMARKS.md: 6.7x the body at
        peak before, see "The HTTP gateway")."""
        limit = self._settings.max_body_bytes
        declared = self._declared_length(request)
        buffer = bytearray(declared) if declared is not None else bytearray()
        received = 0
        try:
            async for chunk in request.stream():
                end = received + len(chunk)
                if end > limit:
                    raise _Refused(
                        problems.error(413, "BLOB_TOO_LARGE", f"more than {limit} bytes sent")
                    )
                if claim is not None:
                    try:
                        claim.check_size(end, final=False)
                    except auth.AuthError as e:
                        raise _Refused(problems.error(e.status, e.reason, str(e))) from e
                if declared is None:
                    buffer += chunk
                elif end > declared:
                    raise _Refused(
                        problems.error(400, "MALFORMED_REQUEST", "more bytes than Content-Length")
                    )
                else:
                    buffer[received:end] = chunk
                received = end
        except ClientDisconnect:
            raise _Refused(problems.error(400, "MALFORMED_REQUEST", "body cut short")) from None
        if declared is not None and received != declared:
            raise _Refused(problems.error(400, "MALFORMED_REQUEST", "body cut short"))
        if claim is not None:
            try:
                claim.check_size(received, final=True)
            except auth.AuthError as e:
                raise _Refused(problems.error(e.status, e.reason, str(e))) from e
        return buffer  # handed to the client as is: a copy would stay resident (see above)

    async def _receive_and_store(
        self,
        request: Request,
        epochs: int,
        deletable: bool,
        force: bool,
        claim: auth.Claim | None,
        caller: keys.PublicOwner | None,
    ) -> Response:
        try:
            data = await self._receive(request, claim)
        except _Refused:
            self._release(claim)
            raise
        try:
            c = await self._client.committees()
            if epochs > c.max_epochs_ahead:
                self._release(claim)
                return problems.error(
                    400, "MALFORMED_REQUEST", f"epochs: at most {c.max_epochs_ahead} epochs ahead"
                )
            if len(data) > EncodingParams(c.n_shards).max_blob_size():
                self._release(claim)
                return problems.error(413, "BLOB_TOO_LARGE", "larger than the network's maximum")
            owner: keys.KeyPair | keys.PublicOwner | None = None
            if deletable:
                owner = caller or self._owners.key(claim.sub if claim is not None else "")
            if not force:
                known = await self._already_certified(data, c, c.epoch + epochs, owner)
                if known is not None:
                    return JSONResponse(known)
            result = await self._client.store(data, epochs=epochs, deletable=deletable, owner=owner)
        except api.NotEnoughConfirmationsError as e:
            return problems.error(503, "INSUFFICIENT_CONFIRMATIONS", str(e))
        except api.ClientError as e:
            return problems.error(503, "STORE_FAILED", str(e))
        for problem in result.problems:
            log.info("store problem", blob_id=str(result.blob_id), problem=problem)
        return JSONResponse(_newly_created(result, len(data), epochs, c))

    async def _already_certified(
        self,
        data: bytes | bytearray,
        c: ActiveCommittees,
        wanted_end: int,
        owner: keys.KeyPair | keys.PublicOwner | None,
    ) -> dict[str, Any] | None:
        """Walrus's ``alreadyCertified`` when the committee certifies the blob until at
        least ``wanted_end`` with the wanted persistence: a permanent registration, or for
        a deletable blob one of the same owner (Walrus answers so when the wallet already
        owns such a Blob object). Reports count only from nodes holding more than ``f``
        shards together, so one lying node cannot make an upload skipped."""
        try:
            encoded = await asyncio.to_thread(encoder.encode, data, c.n_shards)
        except codec_errors.ParameterError:
            return None  # store() reports it
        blob_id = encoded.blob_id
        del encoded
        reports: list[tuple[int, int]] = []  # (longest matching end, shards of the node)
        for member, status in await self._client.status(blob_id):
            if isinstance(status, str) or status.state is not BlobStatusState.CERTIFIED:
                continue
            ends = [
                reg.end_epoch
                for reg in status.registrations
                if reg.end_epoch >= wanted_end
                and (
                    not reg.deletable
                    if owner is None
                    else reg.deletable and reg.owner_public_key == owner.public_key
                )
            ]
            if ends:
                reports.append((max(ends), len(member.shards)))
        f = EncodingParams(c.n_shards).f
        weight = 0
        for end, shards in sorted(reports, reverse=True):
            weight += shards
            if weight > f:  # at least one honest node reports this end or a later one
                key = "event" if owner is None else "object"
                value = None if owner is None else str(blob_id)
                return {"alreadyCertified": {"blobId": str(blob_id), key: value, "endEpoch": end}}
        return None


def _newly_created(result: api.StoreResult, size: int, epochs: int, c: Any) -> dict[str, Any]:
    registration = result.certificate.registration
    quote = cost_mod.storage_cost(
        c.n_shards, size, epochs, price.Prices(c.storage_price, c.write_price)
    )
    blob_id: BlobId = result.blob_id
    encoded = EncodingParams(c.n_shards).encoded_size(size)
    return {
        "newlyCreated": {
            "blobObject": {
                "id": str(blob_id),
                "registeredEpoch": c.epoch,
                "blobId": str(blob_id),
                "size": size,
                "encodingType": "RS2",
                "certifiedEpoch": c.epoch,
                "storage": {
                    "id": str(blob_id),
                    "startEpoch": c.epoch,
                    "endEpoch": registration.end_epoch,
                    "storageSize": encoded,
                },
                "deletable": registration.deletable,
            },
            "resourceOperation": {
                "registerFromScratch": {"encodedLength": encoded, "epochsAhead": epochs}
            },
            "cost": quote.total,
        }
    }
