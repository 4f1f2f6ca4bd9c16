"""``ListCertificatePage`` on the node's side: a page holds at most the certificates
asked, and stops at :data:`servicer.CERTIFICATE_PAGE_BYTES` with ``more`` set, whatever
the size of the certificates (a committee of ~1000 members signs ~70 kB ones)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from walrus_node.metrics import NodeMetrics
from walrus_node.protocol.messages import BlobRegistration, Certificate
from walrus_node.transport import servicer
from walrus_proto.node.v1 import node_pb2 as pb

SIGNERS = 40


class _Registrations:
    """The node's certificate log: entries 1 to 100, each signed by ``SIGNERS`` members."""

    async def certificates_after(self, sequence: int, limit: int) -> list[tuple[int, Certificate]]:
        last = min(100, sequence + limit)
        return [(s, _certificate(s)) for s in range(sequence + 1, last + 1)]


def _certificate(sequence: int) -> Certificate:
    signatures = tuple((bytes([i]) * 32, bytes([sequence % 256]) * 64) for i in range(SIGNERS))
    return Certificate(1, sequence.to_bytes(32, "big"), BlobRegistration(5), signatures)


def _page(after: int, limit: int) -> pb.CertificatePage:
    node = SimpleNamespace(
        registrations=_Registrations(),
        ctx=SimpleNamespace(config=SimpleNamespace(tls_cert_file=None), metrics=NodeMetrics()),
    )
    handler = servicer.StorageNodeServicer(node)  # type: ignore[arg-type]
    request = pb.ListCertificatesRequest(after_sequence=after, limit=limit)
    return asyncio.run(handler.ListCertificatePage(request, None))  # type: ignore[arg-type]


def test_a_page_holds_what_was_asked_when_it_fits() -> None:
    page = _page(10, 20)
    assert [c.sequence for c in page.certificates] == list(range(11, 31))
    assert not page.more
    end = _page(95, 20)
    assert [c.sequence for c in end.certificates] == list(range(96, 101)) and not end.more


def test_a_page_stops_at_its_size_bound_and_says_more(monkeypatch: pytest.MonkeyPatch) -> None:
    one = len(_page(0, 1).certificates[0].SerializeToString())
    monkeypatch.setattr(servicer, "CERTIFICATE_PAGE_BYTES", 3 * one + 30)
    page = _page(0, 20)
    assert [c.sequence for c in page.certificates] == [1, 2, 3]
    assert page.more
    assert page.ByteSize() <= servicer.CERTIFICATE_PAGE_BYTES
    # a bound smaller than one certificate still sends one: the listing goes on
    monkeypatch.setattr(servicer, "CERTIFICATE_PAGE_BYTES", 10)
    single = _page(0, 20)
    assert [c.sequence for c in single.certificates] == [1] and single.more
