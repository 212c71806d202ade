"""Strict decoding of a compact JWS: the header rules of RFC 8725, then PyJWT for the signature.

One function for every token loginsite reads (its session cookie, its sign-in transaction
cookie, login.gov's id_token), so the rules cannot drift apart: a bounded length, exactly one
algorithm (compared before any key is chosen, so ``none``, HS* or odd letter case never reach a
verifier), the expected ``typ`` when the token type has one, no ``jwk``/``jku``/``x5u``/``x5c``
header (keys come from the caller, never from the token), no ``crit`` or ``b64`` extension, a
string ``kid``; then the signature and the presence of every required claim.

Time claims are not checked here: each caller checks them against its own injectable clock
(PyJWT would use the wall clock). Framework-free, so both ``loginsite.session`` and
``loginsite.oidc`` use it; each maps :class:`RefusedToken` to its own error type.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jwt

__all__ = ["RefusedToken", "decode_strict"]

# Header parameters that would point at a key other than the ones the caller trusts.
KEY_POINTER_HEADERS = ("jwk", "jku", "x5u", "x5c")


class RefusedToken(Exception):
    """The token breaks a rule; ``rule`` is a short code, ``reason`` a loggable sentence and
    ``found`` what broke it (the ``alg`` or ``typ`` found, the key-pointer header's name, the
    PyJWT error's name), printable ASCII, for callers that phrase their own reasons."""

    def __init__(self, rule: str, reason: str, found: str = "") -> None:
        super().__init__(reason)
        self.rule = rule
        self.reason = reason
        self.found = found


def _printable(value: object, limit: int = 32) -> str:
    text = value if isinstance(value, str) else repr(value)
    return "".join(c if 32 <= ord(c) < 127 else "?" for c in text)[:limit]


def check_header(
    token: object, *, algorithm: str, max_length: int, typ: str | None = None
) -> dict[str, Any]:
    """The unverified header, if it passes every rule that must hold before a key is chosen."""
    if not isinstance(token, str) or len(token) > max_length:
        raise RefusedToken("size", f"oversized token (or not a string; at most {max_length})")
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as exc:
        name = type(exc).__name__
        raise RefusedToken("malformed", f"malformed token or header ({name})", name) from None
    alg = header.get("alg")
    if alg != algorithm:
        found = _printable(alg)
        raise RefusedToken("alg", f"wrong algorithm {found!r} (only {algorithm})", found)
    for name in KEY_POINTER_HEADERS:
        if name in header:
            raise RefusedToken(
                "key_pointer", f"carries a {name!r} header (keys never come from the token)", name
            )
    if "crit" in header or "b64" in header:
        raise RefusedToken("crit", "unsupported critical header (crit or b64)")
    if typ is not None and header.get("typ") != typ:
        raise RefusedToken("typ", "wrong token type", _printable(header.get("typ"), 64))
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise RefusedToken("kid", "unknown key id (kid is not a string)")
    return header


def decode_strict(
    token: object,
    *,
    algorithm: str,
    key_for: Callable[[str | None], Any],
    max_length: int,
    required: Sequence[str],
    typ: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
    strict_audience: bool = True,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a token that passes :func:`check_header` and verifies.

    ``key_for(kid)`` returns the verification key, or None for an unknown ``kid``; it may also
    raise the caller's own error (the JWKS lookup does). ``issuer``/``audience`` are checked
    by exact comparison when given; callers with subtler rules (the id_token's ``aud``/``azp``)
    pass None and check them themselves.
    """
    header = check_header(token, algorithm=algorithm, max_length=max_length, typ=typ)
    assert isinstance(token, str)
    key = key_for(header.get("kid"))
    if key is None:
        raise RefusedToken("kid", "unknown key id")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key=key,
            algorithms=[algorithm],
            audience=audience,
            issuer=issuer,
            options={
                "verify_signature": True,
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
                "verify_aud": audience is not None,
                "verify_iss": issuer is not None,
                "verify_sub": True,
                "verify_jti": True,
                "strict_aud": strict_audience,
                "enforce_minimum_key_length": True,
                "require": list(required),
            },
        )
    except jwt.InvalidSignatureError:
        raise RefusedToken("signature", "bad signature") from None
    except jwt.MissingRequiredClaimError as exc:
        claim = exc.claim
        raise RefusedToken(
            "missing", f"missing claim {claim} ('{claim}' is required)", claim
        ) from None
    except jwt.InvalidAudienceError:
        raise RefusedToken("aud", "wrong audience") from None
    except jwt.InvalidIssuerError:
        raise RefusedToken("iss", "wrong issuer") from None
    except jwt.PyJWTError as exc:
        name = type(exc).__name__
        raise RefusedToken("invalid", f"invalid token ({name})", name) from None
    return header, claims
