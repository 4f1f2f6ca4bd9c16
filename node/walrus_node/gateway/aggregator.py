"""The aggregator: ``GET``/``HEAD /v1/blobs/{blob_id}``, Walrus's read API over HTTP.

Who calls it: :mod:`walrus_node.gateway.app` mounts :meth:`Aggregator.get_blob`.

A read opens the blob with the client (metadata from the first node whose answer hashes
to the blob ID) and streams :meth:`BlobStream.chunks`: the body starts after the metadata
and the first verified sliver, and a ``Range`` read fetches only the slivers or symbols
covering the range. Headers: ``ETag`` (the blob ID, quoted), ``Cache-Control: public,
max-age=31536000, immutable`` (a blob ID names its bytes forever), ``Content-Length``,
``Accept-Ranges: bytes``, ``Content-Type`` sniffed from the first bytes (or the request's
``Accept`` when it names one type, as Walrus mirrors it), ``X-Content-Type-Options:
nosniff``. ``If-None-Match`` with the blob's ETag gets ``304`` once the blob is known to
exist. Errors are JSON (problems.py): 400 bad ID, 404 unknown, 410 deleted or expired,
416 bad range, 503 not enough nodes answered.

If the stream fails after the headers were sent (a sliver and its fallback both
unavailable, or the padding check failing), the connection is closed before
``Content-Length`` bytes were sent, so no client mistakes a short body for the blob.
"""

from __future__ import annotations

import collections
from collections.abc import AsyncIterator

import structlog
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from walrus_node.client import api
from walrus_node.client.stream import BlobStream
from walrus_node.codec import errors as codec_errors
from walrus_node.codec.metadata import BlobId
from walrus_node.gateway import cache as cache_mod
from walrus_node.gateway import problems, ranges, sniff
from walrus_node.gateway.settings import GatewaySettings

__all__ = ["Aggregator"]

log = structlog.get_logger("walrus.gateway")

CACHE_CONTROL = "public, max-age=31536000, immutable"
_TYPES_REMEMBERED = 10_000


class Aggregator:
    def __init__(self, client: api.WalrusClient, settings: GatewaySettings) -> None:
        self._client = client
        self._settings = settings
        self.cache = (
            cache_mod.BlobCache(settings.cache_bytes, settings.cache_max_blob_bytes)
            if settings.cache_bytes
            else None
        )
        self._types: collections.OrderedDict[bytes, str] = collections.OrderedDict()

    def _remember_type(self, blob_id: BlobId, head: bytes) -> str:
        kind = sniff.media_type(head)
        self._types[blob_id.raw] = kind
        while len(self._types) > _TYPES_REMEMBERED:
            self._types.popitem(last=False)
        return kind

    async def get_blob(self, request: Request) -> Response:
        text = request.path_params["blob_id"]
        try:
            blob_id = BlobId.parse(text)
        except ValueError as e:
            return problems.error(400, "INVALID_BLOB_ID", str(e))
        etag = f'"{blob_id}"'
        headers = {
            "ETag": etag,
            "Cache-Control": CACHE_CONTROL,
            "Accept-Ranges": "bytes",
            "X-Content-Type-Options": "nosniff",
        }
        cached = self.cache.get(blob_id.raw) if self.cache is not None else None
        stream: BlobStream | None = None
        if cached is None:
            opened = await self._open(blob_id)
            if isinstance(opened, Response):
                return opened
            stream = opened
        total = len(cached) if cached is not None else stream.length if stream else 0
        if _matches(request.headers.get("if-none-match"), etag):
            return Response(status_code=304, headers=headers)
        try:
            wanted = ranges.parse(request.headers.get("range"), total)
        except ranges.Unsatisfiable as e:
            return problems.error(
                416, "INVALID_BYTE_RANGE", str(e), {"Content-Range": f"bytes */{total}"}
            )
        start, end = (0, total) if wanted is None else (wanted.start, wanted.end)
        status = 200 if wanted is None else 206
        headers["Content-Length"] = str(end - start)
        if wanted is not None:
            headers["Content-Range"] = wanted.content_range(total)
        head_only = request.method == "HEAD"
        if cached is not None:
            kind = self._types.get(blob_id.raw) or self._remember_type(blob_id, cached[:512])
            body = _once(b"" if head_only else cached[start:end])
        else:
            assert stream is not None
            started = await self._start(stream, start, end, head_only=head_only)
            if isinstance(started, Response):
                return started
            kind, body = started
        headers["Content-Type"] = _mirrored(request.headers.get("accept")) or kind
        if head_only:
            return Response(status_code=status, headers=headers)
        return StreamingResponse(body, status_code=status, headers=headers)

    async def _open(self, blob_id: BlobId) -> BlobStream | Response:
        try:
            return await self._client.open(blob_id, window=self._settings.read_window)
        except api.BlobNotFoundError as e:
            return problems.error(404, "BLOB_NOT_FOUND", f"blob {blob_id} is not stored: {e}")
        except api.BlobGoneError as e:
            return problems.error(410, "BLOB_GONE", str(e))
        except api.ClientError as e:
            return problems.error(503, "BLOB_UNAVAILABLE", str(e))

    async def _start(
        self, stream: BlobStream, start: int, end: int, *, head_only: bool
    ) -> tuple[str, AsyncIterator[bytes]] | Response:
        """The media type and the body of a streamed read, once its first chunk is in hand
        (so a blob that cannot be read at all still gets a JSON error)."""
        blob_id, total = stream.blob_id, stream.length
        known = self._types.get(blob_id.raw)
        if head_only:
            if known is None and total:
                probe = stream.chunks(0, min(total, sniff.SNIFF_BYTES))
                try:
                    known = self._remember_type(blob_id, b"".join([c async for c in probe]))
                except api.ClientError as e:
                    return problems.error(503, "BLOB_UNAVAILABLE", str(e))
            return known or sniff.OCTET_STREAM, _once(b"")
        body = stream.chunks(start, end)
        first = b""
        if end > start:
            try:
                first = await anext(body)
            except codec_errors.InconsistentEncodingError as e:
                return problems.error(404, "BLOB_INCONSISTENT", str(e))
            except api.ClientError as e:
                return problems.error(503, "BLOB_UNAVAILABLE", str(e))
        if known is None and start == 0 and first:
            known = self._remember_type(blob_id, first)
        rest = self._rest(blob_id, first, body, whole=end - start == total, total=total)
        return known or sniff.OCTET_STREAM, rest

    async def _rest(
        self, blob_id: BlobId, first: bytes, rest: AsyncIterator[bytes], *, whole: bool, total: int
    ) -> AsyncIterator[bytes]:
        keep = self.cache is not None and whole and total <= self.cache.max_item
        kept: list[bytes] = []
        try:
            if first:
                yield first
                if keep:
                    kept.append(first)
            async for chunk in rest:
                yield chunk
                if keep:
                    kept.append(chunk)
        except (api.ClientError, codec_errors.CodecError) as e:
            log.warning("read aborted after the headers", blob_id=str(blob_id), error=str(e))
            raise
        if keep and self.cache is not None:
            self.cache.put(blob_id.raw, b"".join(kept))


async def _once(data: bytes) -> AsyncIterator[bytes]:
    if data:
        yield data


def _matches(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
    return "*" in tags or etag in tags or etag.strip('"') in tags


def _mirrored(accept: str | None) -> str | None:
    """The request's ``Accept`` when it names exactly one concrete type (Walrus mirrors it)."""
    if accept is None or "*" in accept or "," in accept or not accept.strip():
        return None
    value = accept.strip()
    if not all(32 <= ord(ch) < 127 for ch in value) or "/" not in value:
        return None
    return value
