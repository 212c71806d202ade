"""Each rule of OIDC Core 3.1.3.7 on its own, without HTTP (the flow: test_oidc_client.py)."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from loginsite.oidc import InvalidIdToken
from loginsite.oidc.id_token import (
    CLAIM_RULES,
    Expectations,
    validate_acr,
    validate_at_hash,
    validate_aud,
    validate_azp,
    validate_exp,
    validate_iat,
    validate_id_token,
    validate_iss,
    validate_nbf,
    validate_nonce,
    validate_sub,
)

NOW = 1_800_000_000
ISSUER = "https://idp.example.test/"
CLIENT_ID = "urn:gov:gsa:openidconnect.profiles:sp:sso:test:unit"
NONCE = "n" * 43
ACR = "urn:acr.login.gov:auth-only"


def expected(**changes: Any) -> Expectations:
    values: dict[str, Any] = {
        "issuer": ISSUER,
        "client_id": CLIENT_ID,
        "nonce": NONCE,
        "acr_values": (ACR,),
        "started_at": NOW - 20,
        "now": NOW,
        "leeway": 30,
    }
    values.update(changes)
    return Expectations(**values)


def claims(**changes: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "iss": ISSUER,
        "sub": "5e1f2a3b-aaaa-4bbb-8ccc-0123456789ab",
        "aud": CLIENT_ID,
        "exp": NOW + 900,
        "iat": NOW - 5,
        "nbf": NOW - 5,
        "nonce": NONCE,
        "acr": ACR,
    }
    values.update(changes)
    return {k: v for k, v in values.items() if v is not None}


@pytest.fixture(scope="module")
def provider_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_rules_run_in_the_order_of_the_specification() -> None:
    assert [rule.__name__ for rule in CLAIM_RULES] == [
        "validate_iss",
        "validate_aud",
        "validate_azp",
        "validate_exp",
        "validate_iat",
        "validate_nbf",
        "validate_nonce",
        "validate_acr",
        "validate_sub",
    ]
    for rule in CLAIM_RULES:
        assert rule.__doc__ is not None
        assert rule.__doc__.lstrip().startswith('"'), rule.__name__  # the spec's words


def test_a_good_token_passes_every_rule() -> None:
    for rule in CLAIM_RULES:
        rule(claims(), expected())


@pytest.mark.parametrize(
    ("rule", "bad", "reason"),
    [
        (validate_iss, {"iss": ISSUER.rstrip("/")}, "iss"),
        (validate_aud, {"aud": "urn:other"}, "aud"),
        (validate_aud, {"aud": [1]}, "aud"),
        (validate_azp, {"azp": "urn:other"}, "azp"),
        (validate_azp, {"aud": [CLIENT_ID, "urn:other"]}, "azp"),
        (validate_exp, {"exp": NOW - 30}, "expired"),
        (validate_exp, {"exp": True}, "not a number"),
        (validate_nbf, {"nbf": NOW + 31}, "not valid yet"),
        (validate_nonce, {"nonce": "m" * 43}, "nonce"),
        (validate_nonce, {"nonce": "\ud800"}, "nonce"),
        (validate_acr, {"acr": "urn:acr.login.gov:verified"}, "acr"),
        (validate_acr, {"acr": None}, "acr"),
        (validate_sub, {"sub": " "}, "sub"),
    ],
)
def test_each_rule_refuses_what_it_names(rule: Any, bad: dict[str, Any], reason: str) -> None:
    with pytest.raises(InvalidIdToken, match=reason):
        rule(claims(**bad), expected())


def test_azp_naming_us_admits_other_audiences() -> None:
    validate_azp(claims(aud=[CLIENT_ID, "urn:other"], azp=CLIENT_ID), expected())


def test_exp_allows_the_leeway_and_no_more() -> None:
    validate_exp(claims(exp=NOW - 29), expected())
    with pytest.raises(InvalidIdToken, match="expired"):
        validate_exp(claims(exp=NOW - 30), expected())


def test_iat_must_not_be_before_the_sign_in_started() -> None:
    """Issue 16.2: a token issued before the request that asked for it is refused."""
    start = NOW - 20
    validate_iat(claims(iat=start - 30), expected(started_at=start))
    with pytest.raises(InvalidIdToken, match="earlier than the start of this sign-in"):
        validate_iat(claims(iat=start - 31), expected(started_at=start))
    with pytest.raises(InvalidIdToken, match="earlier than the start"):
        validate_iat(claims(iat=NOW - 7 * 86400), expected(started_at=start))


def test_iat_must_not_be_in_the_future_beyond_the_leeway() -> None:
    validate_iat(claims(iat=NOW + 30), expected())
    with pytest.raises(InvalidIdToken, match="in the future"):
        validate_iat(claims(iat=NOW + 31), expected())


def test_time_rules_follow_the_injected_clock_not_the_wall_clock() -> None:
    """The checks use Expectations.now: the same token is valid for a clock at NOW and expired
    for a clock 1000 days later, which the wall clock (one value) could not both be. (No
    assertion about the wall clock itself: NOW is a fixed date that the wall clock passes.)"""
    later = NOW + 86400 * 1000
    with pytest.raises(InvalidIdToken, match="expired"):
        validate_exp(claims(), expected(now=later))
    validate_exp(claims(), expected())


def test_at_hash_is_checked_when_present() -> None:
    validate_at_hash(claims(), "any")  # absent: nothing to check
    digest = hashlib.sha256(b"an-access-token").digest()[:16]
    good = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    validate_at_hash(claims(at_hash=good), "an-access-token")
    with pytest.raises(InvalidIdToken, match="at_hash"):
        validate_at_hash(claims(at_hash=good), "another-access-token")


def test_validate_id_token_checks_the_signature_then_the_claims(
    provider_key: rsa.RSAPrivateKey,
) -> None:
    token = jwt.encode(claims(), provider_key, algorithm="RS256", headers={"kid": "k1"})
    public = provider_key.public_key()
    asked: list[str | None] = []

    def key_for(kid: str | None) -> Any:
        asked.append(kid)
        return public

    assert validate_id_token(token, expected(), key_for)["sub"] == claims()["sub"]
    assert asked == ["k1"]

    with pytest.raises(InvalidIdToken, match="nonce"):
        validate_id_token(token, expected(nonce="x" * 43), key_for)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    with pytest.raises(InvalidIdToken, match="signature"):
        validate_id_token(token, expected(), lambda kid: other)


def test_a_wrong_alg_is_refused_before_any_key_is_asked_for() -> None:
    token = jwt.encode(claims(), "s" * 32, algorithm="HS256")

    def key_for(kid: str | None) -> Any:
        raise AssertionError("no key may be chosen for an HS256 token")

    with pytest.raises(InvalidIdToken, match="algorithm"):
        validate_id_token(token, expected(), key_for)
