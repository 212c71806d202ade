"""The SET verifier on its own, without Pyramid: the provider's keys over real HTTP."""

from __future__ import annotations

import secrets
import time
from typing import Any

import pytest

from loginsite.oidc import OIDCClient
from loginsite.oidc.security_event import (
    EVENT_TYPES,
    SecurityEvent,
    SecurityEventError,
    SecurityEventVerifier,
    event_type_name,
)
from tests.plugins.oidc_provider import TestProvider

AUDIENCE = "https://app.example.test/api/security-events"
SUB = "0d5e0a52-2b5c-4f0e-9c54-6a7b8c9d0e1f"


@pytest.fixture
def verifier(test_provider: TestProvider) -> SecurityEventVerifier:
    client: OIDCClient = test_provider.client()
    return SecurityEventVerifier(
        metadata=client.metadata, keys=client.jwks, audiences=(AUDIENCE,), leeway=30
    )


def token(provider: TestProvider, event: str = "password-reset", **claims: Any) -> str:
    now = int(time.time())
    body = {
        "iss": provider.issuer,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 43200,
        "jti": secrets.token_hex(16),
        "events": {
            EVENT_TYPES[event]: {
                "subject": {"subject_type": "iss-sub", "iss": provider.issuer, "sub": SUB},
                "reason": "account-suspension\nforged log line",
            }
        },
        **claims,
    }
    return provider.sign(body, header={"typ": "secevent+jwt"})


def test_a_valid_set_becomes_one_event(
    verifier: SecurityEventVerifier, test_provider: TestProvider
) -> None:
    event = verifier.verify(token(test_provider, "account-disabled", jti="abc123"))
    assert isinstance(event, SecurityEvent)
    assert event.event_type == EVENT_TYPES["account-disabled"]
    assert event.name == "account-disabled"
    assert (event.sub, event.subject_type, event.jti) == (SUB, "iss-sub", "abc123")
    assert event.expires_at - event.issued_at == 43200
    assert event.reason == "account-suspension?forged log line"  # made safe for a log line


def test_an_id_token_of_the_same_provider_is_not_a_set(
    verifier: SecurityEventVerifier, test_provider: TestProvider
) -> None:
    now = int(time.time())
    id_token = test_provider.sign(
        {"iss": test_provider.issuer, "aud": AUDIENCE, "sub": SUB, "iat": now, "exp": now + 900}
    )
    with pytest.raises(SecurityEventError) as caught:
        verifier.verify(id_token)
    assert caught.value.err == "invalid_request"
    assert "typ 'JWT'" in caught.value.description


@pytest.mark.parametrize("jti", ["has space", "", "x" * 257, "tab\tin"])
def test_a_jti_that_cannot_be_logged_or_keyed_safely_is_refused(
    verifier: SecurityEventVerifier, test_provider: TestProvider, jti: str
) -> None:
    with pytest.raises(SecurityEventError, match="jti"):
        verifier.verify(token(test_provider, jti=jti))


def test_a_huge_token_is_refused_before_any_fetch(
    verifier: SecurityEventVerifier, test_provider: TestProvider
) -> None:
    with pytest.raises(SecurityEventError, match="not a compact JWS"):
        verifier.verify("a" * 9000 + ".b.c")
    assert not test_provider.calls


def test_event_type_names() -> None:
    assert event_type_name(EVENT_TYPES["mfa-limit-account-locked"]) == "mfa-limit-account-locked"
    assert event_type_name("https://example.gov/x\n") == "https://example.gov/x?"


def test_a_verifier_needs_an_audience(test_provider: TestProvider) -> None:
    client = test_provider.client()
    with pytest.raises(ValueError, match="audience"):
        SecurityEventVerifier(metadata=client.metadata, keys=client.jwks, audiences=(), leeway=0)


def _verifier_at(test_provider: TestProvider, now: float) -> SecurityEventVerifier:
    client: OIDCClient = test_provider.client()
    return SecurityEventVerifier(
        metadata=client.metadata,
        keys=client.jwks,
        audiences=(AUDIENCE,),
        leeway=30,
        clock=lambda: now,
    )


def test_expiry_is_judged_by_the_verifiers_clock_not_the_wall_clock(
    test_provider: TestProvider,
) -> None:
    iat = int(time.time())
    valid_now = token(test_provider, iat=iat, exp=iat + 3600)
    with pytest.raises(SecurityEventError) as caught:
        _verifier_at(test_provider, iat + 3600 + 30).verify(valid_now)  # the leeway: 30 s
    assert (caught.value.err, caught.value.description) == (
        "invalid_request",
        "the SET has expired (exp)",
    )
    assert _verifier_at(test_provider, iat + 3600 + 29).verify(valid_now).sub == SUB


def test_a_not_before_in_the_future_is_refused(test_provider: TestProvider) -> None:
    now = int(time.time())
    early = token(test_provider, iat=now, nbf=now + 120)
    with pytest.raises(SecurityEventError) as caught:
        _verifier_at(test_provider, now).verify(early)
    assert caught.value.description == "the SET is not valid yet (nbf)"
    assert _verifier_at(test_provider, now + 121).verify(early).sub == SUB


def test_a_bad_signature_is_authentication_failed(
    verifier: SecurityEventVerifier, test_provider: TestProvider
) -> None:
    head, body, signature = token(test_provider).split(".")
    forged = f"{head}.{body}.{signature[:-4]}AAAA"
    with pytest.raises(SecurityEventError) as caught:
        verifier.verify(forged)
    assert caught.value.err == "authentication_failed"
