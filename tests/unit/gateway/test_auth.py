"""Publisher tokens: signature, expiry, claims, replays."""

from __future__ import annotations

import time

import jwt
import pytest

from walrus_node.gateway import auth

KEY = b"0123456789abcdef" * 4  # 64 bytes: long enough for HS512 too


def _bearer(key: bytes = KEY, algorithm: str = "HS256", **claims: object) -> str:
    payload: dict[str, object] = {"exp": int(time.time()) + 60, **claims}
    return "Bearer " + jwt.encode(payload, key, algorithm=algorithm)


def _reason(verifier: auth.Verifier, header: str | None) -> str:
    with pytest.raises(auth.AuthError) as e:
        verifier.verify(header)
    return e.value.reason


def test_valid_token_gives_its_claims() -> None:
    claim = auth.Verifier(KEY, "HS256").verify(_bearer(sub="acme", max_size=10, jti="a"))
    assert (claim.sub, claim.max_size, claim.jti) == ("acme", 10, "a")


def test_bad_tokens_are_refused_with_a_reason() -> None:
    v = auth.Verifier(KEY, "HS256")
    assert _reason(v, None) == "MISSING_TOKEN"
    assert _reason(v, "Basic abc") == "MISSING_TOKEN"
    assert _reason(v, _bearer(key=b"x" * 64)) == "INVALID_TOKEN"
    assert _reason(v, _bearer(exp=int(time.time()) - 10)) == "EXPIRED_TOKEN"
    assert _reason(v, _bearer(epochs=1, max_epochs=2)) == "INVALID_TOKEN"
    assert _reason(v, _bearer(size=1, max_size=2)) == "INVALID_TOKEN"
    assert _reason(v, _bearer(max_size=-1)) == "INVALID_TOKEN"


def test_the_algorithm_is_fixed_by_configuration_not_by_the_token() -> None:
    none_token = "Bearer " + jwt.encode({"exp": int(time.time()) + 60}, None, algorithm="none")
    assert _reason(auth.Verifier(KEY, "HS256"), none_token) == "INVALID_TOKEN"
    assert _reason(auth.Verifier(KEY, "HS256"), _bearer(algorithm="HS512")) == "INVALID_TOKEN"


def test_expiring_seconds_requires_iat_at_that_distance() -> None:
    v = auth.Verifier(KEY, "HS256", expiring_seconds=60)
    now = int(time.time())
    assert _reason(v, _bearer(exp=now + 60)) == "INVALID_TOKEN"  # no iat
    assert _reason(v, _bearer(iat=now, exp=now + 30)) == "INVALID_TOKEN"
    assert v.verify(_bearer(iat=now, exp=now + 60)).exp == now + 60


def test_a_token_id_is_used_once_unless_released() -> None:
    v = auth.Verifier(KEY, "HS256")
    token = _bearer(jti="once")
    claim = v.verify(token)
    assert _reason(v, token) == "TOKEN_REUSED"
    v.release(claim)
    v.verify(token)


def test_epoch_and_size_claims() -> None:
    claim = auth.Claim(exp=0, epochs=2, max_size=100)
    claim.check_epochs(2)
    with pytest.raises(auth.AuthError):
        claim.check_epochs(3)
    claim.check_size(100, final=True)
    with pytest.raises(auth.AuthError):
        claim.check_size(101, final=False)
    exact = auth.Claim(exp=0, size=10, max_epochs=3)
    exact.check_size(5, final=False)
    with pytest.raises(auth.AuthError):
        exact.check_size(5, final=True)
    with pytest.raises(auth.AuthError):
        exact.check_epochs(4)


def test_replay_cache_is_bounded_and_forgets_expired_ids() -> None:
    cache = auth.ReplayCache(capacity=2)
    assert cache.use("a", exp=100, now=0)
    assert not cache.use("a", exp=100, now=50)
    assert cache.use("a", exp=300, now=150)  # the first expired at 100
    assert cache.use("b", exp=300, now=150)
    assert cache.use("c", exp=300, now=150)  # evicts the oldest
    assert cache.use("a", exp=300, now=150)
