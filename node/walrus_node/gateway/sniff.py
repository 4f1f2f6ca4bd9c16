"""Guessing a blob's media type from its first bytes. Pure.

Who calls it: the aggregator, for ``Content-Type``. Blobs carry no stored type here, so
the type is sniffed from magic numbers (a short table of the formats users store most),
then text if the start decodes as UTF-8, else ``application/octet-stream``. The
aggregator also sends ``X-Content-Type-Options: nosniff`` so browsers do not guess again.
"""

from __future__ import annotations

__all__ = ["OCTET_STREAM", "SNIFF_BYTES", "media_type"]

OCTET_STREAM = "application/octet-stream"
SNIFF_BYTES = 512
"""Bytes looked at; a caller may pass more, never needs to."""

_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "image/png"),
    (0, b"\xff\xd8\xff", "image/jpeg"),
    (0, b"GIF87a", "image/gif"),
    (0, b"GIF89a", "image/gif"),
    (0, b"%PDF-", "application/pdf"),
    (0, b"PK\x03\x04", "application/zip"),
    (0, b"\x1f\x8b", "application/gzip"),
    (0, b"\x28\xb5\x2f\xfd", "application/zstd"),
    (0, b"BZh", "application/x-bzip2"),
    (0, b"\xfd7zXZ\x00", "application/x-xz"),
    (0, b"OggS", "audio/ogg"),
    (0, b"fLaC", "audio/flac"),
    (0, b"ID3", "audio/mpeg"),
    (0, b"\x1aE\xdf\xa3", "video/webm"),
    (0, b"\x00asm", "application/wasm"),
    (4, b"ftyp", "video/mp4"),
)
_RIFF = {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}


def media_type(head: bytes) -> str:
    """The media type of a blob that starts with ``head``."""
    head = head[:SNIFF_BYTES]
    for offset, magic, kind in _MAGIC:
        if head[offset : offset + len(magic)] == magic:
            return kind
    if head[:4] == b"RIFF" and head[8:12] in _RIFF:
        return _RIFF[head[8:12]]
    text = _as_text(head)
    if text is None:
        return OCTET_STREAM
    stripped = text.lstrip().lower()
    if stripped.startswith(("<!doctype html", "<html")):
        return "text/html; charset=utf-8"
    if stripped.startswith("<svg") or (stripped.startswith("<?xml") and "<svg" in stripped):
        return "image/svg+xml"
    if stripped.startswith("<?xml"):
        return "application/xml"
    if stripped.startswith(("{", "[")):
        return "application/json"
    return "text/plain; charset=utf-8"


def _as_text(head: bytes) -> str | None:
    """``head`` as UTF-8 without control bytes (a cut multi-byte tail is allowed)."""
    if not head:
        return None
    for cut in range(4):
        try:
            text = head[: len(head) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if any(ord(ch) < 32 and ch not in "\t\n\r\f" for ch in text):
            return None
        return text
    return None
