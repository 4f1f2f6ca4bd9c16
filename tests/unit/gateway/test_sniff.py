"""Media types sniffed from a blob's first bytes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from walrus_node.gateway import sniff


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"\xff\xd8\xff\xe0rest", "image/jpeg"),
        (b"GIF89a...", "image/gif"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
        (b"<!DOCTYPE html><html>", "text/html; charset=utf-8"),
        (b'  {"a": 1}', "application/json"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'>", "image/svg+xml"),
        ("héllo wörld\n".encode(), "text/plain; charset=utf-8"),
        (b"\x00\x01\x02binary", "application/octet-stream"),
        (b"", "application/octet-stream"),
    ],
)
def test_known_formats(head: bytes, kind: str) -> None:
    assert sniff.media_type(head) == kind


def test_a_multibyte_character_cut_at_the_end_is_still_text() -> None:
    head = ("é" * 300).encode()[: sniff.SNIFF_BYTES - 1]
    assert sniff.media_type(head).startswith("text/plain")


@given(st.binary(max_size=2000))
def test_any_bytes_get_a_type(head: bytes) -> None:
    kind = sniff.media_type(head)
    assert "/" in kind
    assert kind == sniff.media_type(head[: sniff.SNIFF_BYTES])
