"""The id_token checks of OpenID Connect Core 1.0, section 3.1.3.7, one function per rule.

:func:`validate_id_token` runs the header and signature check first (nothing in an unverified
token can be trusted), then every claim rule in the order the specification lists them. Each
rule's docstring quotes the specification; the code below it is how loginsite applies it.
Every failure is an :class:`~loginsite.oidc.errors.InvalidIdToken` whose reason names the rule.

Time rules use ``Expectations.now``, which the client takes from its injectable clock, so tests
can move time; PyJWT's own (wall-clock) time checks are off.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from loginsite.strict_jwt import RefusedToken, decode_strict

from ._http import safe_text
from .errors import InvalidIdToken

__all__ = ["ALGORITHM", "MAX_ID_TOKEN_LENGTH", "Expectations", "validate_id_token"]

ALGORITHM = "RS256"
MAX_ID_TOKEN_LENGTH = 16384
REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "nonce")


@dataclass(frozen=True)
class Expectations:
    """What this sign-in's id_token must say, gathered before it is read."""

    issuer: str
    client_id: str
    nonce: str
    acr_values: tuple[str, ...]
    #: when this sign-in transaction began (the token cannot be older)
    started_at: float
    now: float
    leeway: int


Claims = dict[str, Any]


def validate_id_token(
    id_token: object, expected: Expectations, key_for: Callable[[str | None], Any]
) -> Claims:
    """The id_token's claims after every rule below; else InvalidIdToken.

    ``key_for(kid)`` returns the provider's key for ``kid`` from its JWKS (it raises
    InvalidIdToken itself for a ``kid`` the JWKS does not hold).
    """
    claims = verify_signature(id_token, key_for)
    for rule in CLAIM_RULES:
        rule(claims, expected)
    return claims


def verify_signature(id_token: object, key_for: Callable[[str | None], Any]) -> Claims:
    """ "The Client MUST validate the signature of all other ID Tokens according to JWS using the
    algorithm specified in the JWT alg Header Parameter. The Client MUST use the keys provided by
    the Issuer." and "The alg value SHOULD be the default of RS256" (rules 6 and 7).

    The header is checked before any key is chosen: ``alg`` exactly RS256, no key-pointer
    headers, no ``crit``; then the signature with the JWKS key named by ``kid``.
    """
    try:
        _, claims = decode_strict(
            id_token,
            algorithm=ALGORITHM,
            key_for=key_for,
            max_length=MAX_ID_TOKEN_LENGTH,
            required=REQUIRED_CLAIMS,
            strict_audience=False,
        )
    except RefusedToken as exc:
        raise InvalidIdToken(f"id_token: {exc.reason}") from None
    return claims


def validate_iss(claims: Claims, expected: Expectations) -> None:
    """ "The Issuer Identifier for the OpenID Provider (which is typically obtained during
    Discovery) MUST exactly match the value of the iss (issuer) Claim." (rule 2)"""
    if claims["iss"] != expected.issuer:
        raise InvalidIdToken("id_token iss is not the provider's issuer")


def validate_aud(claims: Claims, expected: Expectations) -> None:
    """ "The Client MUST validate that the aud (audience) Claim contains its client_id value
    registered at the Issuer identified by the iss (issuer) Claim as an audience. [...] The ID
    Token MUST be rejected if the ID Token does not list the Client as a valid audience, or if it
    contains additional audiences not trusted by the Client." (rule 3)

    Other audiences are trusted only when ``azp`` names us (:func:`validate_azp`).
    """
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else aud
    if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
        raise InvalidIdToken("id_token aud is not a string or list of strings")
    if expected.client_id not in audiences:
        raise InvalidIdToken("id_token aud is not our client_id")


def validate_azp(claims: Claims, expected: Expectations) -> None:
    """ "If the ID Token contains multiple audiences, the Client SHOULD verify that an azp Claim
    is present." and "If an azp (authorized party) Claim is present, the Client SHOULD verify
    that its client_id is the Claim Value." (rules 4 and 5)"""
    azp = claims.get("azp")
    if azp is not None and azp != expected.client_id:
        raise InvalidIdToken("id_token azp is not our client_id")
    aud = claims["aud"]
    if isinstance(aud, list) and len(aud) > 1 and azp != expected.client_id:
        raise InvalidIdToken("id_token has other audiences and no azp naming us")


def _number(claims: Claims, name: str) -> float:
    value = claims[name]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise InvalidIdToken(f"id_token {name} is not a number")
    return value


def validate_exp(claims: Claims, expected: Expectations) -> None:
    """ "The current time MUST be before the time represented by the exp Claim (possibly allowing
    for some small leeway to account for clock skew)." (rule 9)"""
    if expected.now >= _number(claims, "exp") + expected.leeway:
        raise InvalidIdToken("id_token has expired (exp)")


def validate_iat(claims: Claims, expected: Expectations) -> None:
    """ "The iat Claim can be used to reject tokens that were issued too far away from the
    current time, limiting the amount of time that nonces need to be stored to prevent attacks.
    The acceptable range is Client specific." (rule 10)

    loginsite's range: from the start of this sign-in transaction (the provider cannot have
    issued the token before the request that asked for it) to now, each with the leeway.
    """
    iat = _number(claims, "iat")
    if iat > expected.now + expected.leeway:
        raise InvalidIdToken("id_token iat is in the future (not valid yet)")
    if iat < expected.started_at - expected.leeway:
        raise InvalidIdToken("id_token iat is earlier than the start of this sign-in")


def validate_nbf(claims: Claims, expected: Expectations) -> None:
    """ "The nbf (not before) claim identifies the time before which the JWT MUST NOT be accepted
    for processing." (RFC 7519 4.1.5; login.gov sends it)"""
    if "nbf" in claims and _number(claims, "nbf") > expected.now + expected.leeway:
        raise InvalidIdToken("id_token nbf is in the future (not valid yet)")


def validate_nonce(claims: Claims, expected: Expectations) -> None:
    """ "If a nonce value was sent in the Authentication Request, a nonce Claim MUST be present
    and its value checked to verify that it is the same value as the one that was sent in the
    Authentication Request." (rule 11)

    Compared in constant time; every sign-in sends a fresh nonce.
    """
    nonce = claims["nonce"]
    if not isinstance(nonce, str) or not hmac.compare_digest(
        nonce.encode("utf-8", "surrogatepass"), expected.nonce.encode("utf-8", "surrogatepass")
    ):
        raise InvalidIdToken("id_token nonce does not match this sign-in")


def validate_acr(claims: Claims, expected: Expectations) -> None:
    """ "If the acr Claim was requested, the Client SHOULD check that the asserted Claim Value is
    appropriate." (rule 12)

    login.gov always sends ``acr``; it must be one of the values this sign-in asked for.
    """
    acr = claims.get("acr")
    if not isinstance(acr, str) or acr not in expected.acr_values:
        raise InvalidIdToken(f"id_token acr {safe_text(acr, 100)!r} is not one we asked for")


def validate_sub(claims: Claims, expected: Expectations) -> None:
    """ "sub REQUIRED. Subject Identifier. A locally unique and never reassigned identifier
    within the Issuer for the End-User" (Core section 2): a non-empty string."""
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub.strip():
        raise InvalidIdToken("id_token sub is empty")


#: The claim rules in the order of OIDC Core 3.1.3.7 (rule 13, auth_time, does not apply:
#: loginsite never sends max_age), then the sub rule of section 2.
CLAIM_RULES: tuple[Callable[[Claims, Expectations], None], ...] = (
    validate_iss,
    validate_aud,
    validate_azp,
    validate_exp,
    validate_iat,
    validate_nbf,
    validate_nonce,
    validate_acr,
    validate_sub,
)


def validate_at_hash(claims: Claims, access_token: str) -> None:
    """ "If the ID Token contains an at_hash Claim, the Client [...] Hash the octets of the ASCII
    representation of the access_token with the hash algorithm specified in JWA for the alg
    Header Parameter of the ID Token's JOSE Header. [...] Take the left-most half of the hash
    and base64url-encode it. The value of at_hash in the ID Token MUST match the value produced
    in the previous step." (OIDC Core 3.1.3.8)"""
    if "at_hash" not in claims:
        return
    digest = hashlib.sha256(access_token.encode("ascii", "replace")).digest()
    expected = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=")
    at_hash = claims["at_hash"]
    if not isinstance(at_hash, str) or not hmac.compare_digest(
        at_hash.encode("utf-8", "surrogatepass"), expected
    ):
        raise InvalidIdToken("id_token at_hash does not match the access token")
