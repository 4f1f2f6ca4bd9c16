"""The operator's TLS material: the pure re-issue decision (examples and properties),
and the Secrets it keeps against an in-memory API (issue, keep, rotate, replace, refuse).
"""

from __future__ import annotations

import base64
import datetime
import typing

import pytest
from cryptography import x509
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.operator import memory_kube
from walrus_operator import (
    certificate_plan,
    certificates,
    errors,
    kube,
    naming,
    settings,
    tls_secrets,
)

NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)
NAMES = frozenset({"node-a", "node-a-0.node-a.walrus.svc.cluster.local"})


def _facts(**changes: typing.Any) -> certificate_plan.Facts:
    base = {
        "not_before": NOW - DAY,
        "not_after": NOW + 60 * DAY,
        "dns_names": NAMES,
        "issuer_key_id": "ca1",
        "bundled_ca_key_id": "ca1",
        "key_matches": True,
    }
    return certificate_plan.Facts(**{**base, **changes})


def _decide(facts: certificate_plan.Facts | None, **changes: typing.Any) -> typing.Any:
    arguments = {"names": NAMES, "ca_key_id": "ca1", "now": NOW, "renew_before": 30 * DAY}
    return certificate_plan.decide(facts, **{**arguments, **changes})


@pytest.mark.parametrize(
    ("facts", "changes", "reason"),
    [
        (None, {}, certificate_plan.Reason.MISSING),
        (_facts(), {"readable": False}, certificate_plan.Reason.UNREADABLE),
        (_facts(key_matches=False), {}, certificate_plan.Reason.UNREADABLE),
        (_facts(), {"ca_key_id": "ca2"}, certificate_plan.Reason.ISSUER_CHANGED),
        (_facts(bundled_ca_key_id="old"), {}, certificate_plan.Reason.ISSUER_CHANGED),
        (_facts(dns_names=frozenset({"node-b"})), {}, certificate_plan.Reason.NAMES_CHANGED),
        (_facts(not_before=NOW + DAY), {}, certificate_plan.Reason.NOT_YET_VALID),
        (_facts(not_after=NOW + 29 * DAY), {}, certificate_plan.Reason.EXPIRING),
        (_facts(not_after=NOW - DAY), {}, certificate_plan.Reason.EXPIRING),
        (_facts(), {}, None),
    ],
)
def test_decision_examples(
    facts: certificate_plan.Facts | None, changes: dict[str, typing.Any], reason: object
) -> None:
    assert _decide(facts, **changes) == reason


@given(
    left=st.integers(min_value=-400, max_value=400),
    renew=st.integers(min_value=1, max_value=200),
)
def test_a_good_certificate_is_renewed_exactly_when_less_than_renew_before_is_left(
    left: int, renew: int
) -> None:
    facts = _facts(not_after=NOW + datetime.timedelta(hours=left))
    reason = _decide(facts, renew_before=datetime.timedelta(hours=renew))
    assert (reason == certificate_plan.Reason.EXPIRING) == (left < renew)
    assert reason in (None, certificate_plan.Reason.EXPIRING)


@given(
    facts=st.builds(
        certificate_plan.Facts,
        not_before=st.datetimes(timezones=st.just(datetime.UTC)),
        not_after=st.datetimes(timezones=st.just(datetime.UTC)),
        dns_names=st.frozensets(st.sampled_from(["node-a", "node-b", "x"])),
        issuer_key_id=st.sampled_from(["ca1", "ca2"]),
        bundled_ca_key_id=st.sampled_from(["ca1", "ca2", ""]),
        key_matches=st.booleans(),
    )
)
def test_a_kept_certificate_is_usable_now_and_until_renewal(
    facts: certificate_plan.Facts,
) -> None:
    if _decide(facts) is None:
        assert facts.key_matches
        assert facts.issuer_key_id == facts.bundled_ca_key_id == "ca1"
        assert facts.dns_names == NAMES
        assert facts.not_before <= NOW
        assert facts.not_after - NOW >= 30 * DAY


# --------------------------------------------------------------------------- Secrets


class _Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime.datetime:
        return self.now


def _secrets() -> tuple[memory_kube.MemoryKube, _Clock, tls_secrets.TlsSecrets]:
    api = memory_kube.MemoryKube()
    clock = _Clock()
    config = settings.OperatorSettings(certificate_validity_days=90, certificate_renew_days=30)
    return api, clock, tls_secrets.TlsSecrets(api, config, clock=clock)


async def _ensure_node(tls: tls_secrets.TlsSecrets) -> certificate_plan.Reason | None:
    authority = await tls.authority("walrus", "devnet", "net-uid")
    return await tls.ensure(
        "walrus",
        naming.tls_secret_name("node-a"),
        authority=authority,
        network="devnet",
        owner=("WalrusNode", "node-a", "node-uid"),
        names=tls_secrets.node_names("node-a", "walrus", "cluster.local"),
        server=True,
    )


def _pem(api: memory_kube.MemoryKube, name: str, key: str) -> bytes:
    body = api.find(kube.Kind.SECRET, name, "walrus")
    assert body is not None
    return base64.b64decode(body["data"][key])


@pytest.mark.asyncio
async def test_a_node_certificate_is_issued_by_the_network_ca_for_its_committee_name() -> None:
    api, _, tls = _secrets()
    assert await _ensure_node(tls) == certificate_plan.Reason.MISSING
    secret = api.find(kube.Kind.SECRET, "node-a-tls", "walrus")
    assert secret is not None and secret["type"] == "kubernetes.io/tls"
    assert secret["metadata"]["ownerReferences"][0]["name"] == "node-a"
    ca = x509.load_pem_x509_certificate(_pem(api, "devnet-ca", "ca.crt"))
    leaf = x509.load_pem_x509_certificate(_pem(api, "node-a-tls", "tls.crt"))
    leaf.verify_directly_issued_by(ca)
    assert _pem(api, "node-a-tls", "ca.crt") == _pem(api, "devnet-ca", "ca.crt")
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName)[0] == "node-a"
    usages = set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
    assert usages == {
        x509.oid.ExtendedKeyUsageOID.SERVER_AUTH,
        x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH,
    }


@pytest.mark.asyncio
async def test_a_fresh_certificate_is_kept_and_one_near_expiry_is_rotated_in_place() -> None:
    api, clock, tls = _secrets()
    await _ensure_node(tls)
    first = _pem(api, "node-a-tls", "tls.crt")
    clock.now = NOW + 59 * DAY  # 31 days left: kept
    assert await _ensure_node(tls) is None
    assert _pem(api, "node-a-tls", "tls.crt") == first
    clock.now = NOW + 61 * DAY  # 29 days left: rotated, same Secret, same CA
    assert await _ensure_node(tls) == certificate_plan.Reason.EXPIRING
    second = x509.load_pem_x509_certificate(_pem(api, "node-a-tls", "tls.crt"))
    assert _pem(api, "node-a-tls", "tls.crt") != first
    assert second.not_valid_after_utc > NOW + 150 * DAY
    second.verify_directly_issued_by(
        x509.load_pem_x509_certificate(_pem(api, "devnet-ca", "ca.crt"))
    )


@pytest.mark.asyncio
async def test_a_replaced_ca_reissues_every_certificate() -> None:
    api, _, tls = _secrets()
    await _ensure_node(tls)
    await api.delete(kube.Kind.SECRET, "devnet-ca", "walrus")
    assert await _ensure_node(tls) == certificate_plan.Reason.ISSUER_CHANGED
    leaf = x509.load_pem_x509_certificate(_pem(api, "node-a-tls", "tls.crt"))
    leaf.verify_directly_issued_by(x509.load_pem_x509_certificate(_pem(api, "devnet-ca", "ca.crt")))


@pytest.mark.asyncio
async def test_a_tampered_certificate_secret_is_reissued() -> None:
    api, _, tls = _secrets()
    await _ensure_node(tls)
    body = api.find(kube.Kind.SECRET, "node-a-tls", "walrus")
    assert body is not None
    body["data"]["tls.crt"] = base64.b64encode(b"garbage").decode()
    assert await _ensure_node(tls) == certificate_plan.Reason.UNREADABLE


@pytest.mark.asyncio
async def test_a_malformed_ca_secret_is_refused_naming_it() -> None:
    api, _, tls = _secrets()
    api.put(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "devnet-ca", "namespace": "walrus"},
            "data": {"ca.crt": base64.b64encode(b"nope").decode(), "ca.key": ""},
        }
    )
    with pytest.raises(errors.SpecInvalid) as refused:
        await _ensure_node(tls)
    assert "Secret walrus/devnet-ca key ca.crt" in str(refused.value)


def test_a_leaf_never_outlives_its_ca() -> None:
    authority = certificates.make_authority("devnet", now=NOW, days=10)
    pem, _ = certificates.issue(authority, "node-a", ["node-a"], now=NOW, days=90, server=True)
    leaf = x509.load_pem_x509_certificate(pem)
    assert leaf.not_valid_after_utc <= authority.certificate.not_valid_after_utc
