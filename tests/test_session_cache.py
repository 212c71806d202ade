"""The verified-token cache can never admit a token that full verification would refuse.

tests/test_session_token.py covers a tampered signature, a foreign key and the clock on a cached
token; these add the rest: a tampered payload next to a cached original, a key removed from the
ring after its token was cached, a revoked session whose token is cached (through the policy),
and ``cache_size=0`` meaning no cache at all.
"""

from __future__ import annotations

import base64
import json
import secrets
from dataclasses import replace

import pytest
from pyramid.request import Request

from loginsite.revocation.memory import MemoryRevocationStore
from loginsite.session import InvalidSession, SessionCodec, SessionSecurityPolicy
from loginsite.settings import SessionKey, SessionSettings
from tests.plugins.clock import FakeClock

NOW = 1_790_000_000


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def ring() -> list[SessionKey]:
    return [
        SessionKey("new", secrets.token_bytes(32)),
        SessionKey("old", secrets.token_bytes(32), verify_only=True),
    ]


def test_tampered_payload_with_the_cached_tokens_signature_is_refused(ring, clock) -> None:
    codec = SessionCodec(ring, idle_timeout=900, max_age=43200, clock=clock)
    value, _ = codec.mint("user-1", email=None, acr="urn:acr.login.gov:auth-only")
    codec.verify(value)  # cached
    header, payload, signature = value.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "user-2"
    forged = f"{header}.{_b64(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(InvalidSession, match="bad signature"):
        codec.verify(forged)
    assert forged not in codec._cache
    assert codec.verify(value).sub == "user-1"


def test_refused_tokens_are_never_cached(ring, clock) -> None:
    codec = SessionCodec(ring, idle_timeout=900, max_age=43200, clock=clock)
    foreign = SessionCodec(
        [SessionKey("new", secrets.token_bytes(32))], idle_timeout=900, max_age=43200, clock=clock
    )
    value, _ = foreign.mint("user-1", email=None, acr="a")
    for _ in range(2):  # the second attempt must verify in full again, not hit the cache
        with pytest.raises(InvalidSession, match="bad signature"):
            codec.verify(value)
    assert codec._cache == {}


def test_key_removed_from_the_ring_after_its_token_was_cached(ring, clock) -> None:
    codec = SessionCodec(ring, idle_timeout=900, max_age=43200, clock=clock)
    old_codec = SessionCodec(
        [replace(ring[1], verify_only=False)], idle_timeout=900, max_age=43200, clock=clock
    )
    value, _ = old_codec.mint("user-1", email=None, acr="a")
    assert codec.verify(value).kid == "old"
    assert value in codec._cache
    del codec._keys["old"]  # the ring changes under a live cache
    with pytest.raises(InvalidSession, match="no longer in the ring"):
        codec.verify(value)


def test_cache_size_zero_means_no_cache(ring, clock) -> None:
    codec = SessionCodec(ring, idle_timeout=900, max_age=43200, clock=clock, cache_size=0)
    value, minted = codec.mint("user-1", email=None, acr="a")
    assert codec.verify(value) == minted
    assert codec.verify(value) == minted
    assert codec._cache == {}


def _request(policy: SessionSecurityPolicy, value: str) -> Request:
    return Request.blank("/", headers={"Cookie": f"{policy.cookie_name}={value}"})


def test_revoked_session_is_refused_although_its_token_is_cached(ring, clock) -> None:
    store = MemoryRevocationStore(clock=clock)
    settings = SessionSettings(keys=tuple(ring), cookie_name="sess", secure=False)
    policy = SessionSecurityPolicy(settings, store, clock=clock)
    value, token = policy.codec.mint("user-1", email=None, acr="a")
    assert policy.authenticated_userid(_request(policy, value)) == "user-1"
    assert value in policy.codec._cache
    store.revoke_session(token.session_id, expires_at=token.deadline)
    assert policy.authenticated_userid(_request(policy, value)) is None
    other_value, _ = policy.codec.mint("user-1", email=None, acr="a")
    assert policy.authenticated_userid(_request(policy, other_value)) == "user-1"
    clock.now = NOW + 1
    store.revoke_user("user-1", not_before=NOW + 1, expires_at=NOW + 43201)
    assert policy.authenticated_userid(_request(policy, other_value)) is None
