"""The one strict JWS decoder that the session, the transaction jar and the id_token share."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest

from loginsite.strict_jwt import RefusedToken, decode_strict

SECRET = b"k" * 32


def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def decode(token: str, **overrides: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "algorithm": "HS256",
        "typ": "t+jwt",
        "key_for": lambda kid: SECRET if kid == "k1" else None,
        "max_length": 1000,
        "required": ("iss", "aud", "sub"),
        "issuer": "me",
        "audience": "me",
    }
    kwargs.update(overrides)
    return decode_strict(token, **kwargs)[1]


def token(claims: dict[str, Any] | None = None, **header: Any) -> str:
    head = {"kid": "k1", "typ": "t+jwt", **header}
    head = {k: v for k, v in head.items() if v is not None}
    body = {"iss": "me", "aud": "me", "sub": "s"} if claims is None else claims
    return jwt.encode(body, SECRET, algorithm="HS256", headers=head)


def test_a_good_token_decodes() -> None:
    assert decode(token())["sub"] == "s"


@pytest.mark.parametrize(
    ("value", "rule"),
    [
        ("x" * 1001, "size"),
        (None, "size"),
        ("garbage", "malformed"),
        (token(typ="JWT"), "typ"),
        (token(kid="k9"), "kid"),
        (token(kid=None), "kid"),
        (token(jku="https://evil.example/"), "key_pointer"),
        (token(x5u="https://evil.example/"), "key_pointer"),
        (token({"iss": "me", "aud": "me"}), "missing"),
        (token({"iss": "other", "aud": "me", "sub": "s"}), "iss"),
        (token({"iss": "me", "aud": "other", "sub": "s"}), "aud"),
        (token({"iss": "me", "aud": "me", "sub": 5}), "invalid"),
        (token()[:-3] + "AAA", "signature"),
        (b64({"alg": "none", "kid": "k1", "typ": "t+jwt"}) + "." + b64({"sub": "s"}) + ".", "alg"),
        (b64({"alg": "HS256", "kid": 7, "typ": "t+jwt"}) + "." + b64({}) + ".x", "kid|malformed"),
        (
            b64({"alg": "HS256", "kid": "k1", "typ": "t+jwt", "b64": False}) + ".e30.x",
            "crit|malformed",
        ),
    ],
)
def test_every_rule_has_its_own_code(value: Any, rule: str) -> None:
    with pytest.raises(RefusedToken) as caught:
        decode(value)
    assert caught.value.rule in rule.split("|")  # "malformed": PyJWT's own header check
    assert caught.value.reason


def test_time_claims_are_left_to_the_caller() -> None:
    expired = token({"iss": "me", "aud": "me", "sub": "s", "exp": 1, "iat": 1, "nbf": 2**40})
    assert decode(expired)["exp"] == 1


def test_the_key_lookup_may_raise_its_own_error() -> None:
    class Mine(Exception):
        pass

    def key_for(kid: str | None) -> bytes:
        raise Mine(kid)

    with pytest.raises(Mine):
        decode(token(), key_for=key_for)


def test_the_refusal_names_what_broke_the_rule() -> None:
    """Callers that phrase their own reasons (the SET verifier) get the offending value."""
    none = b64({"alg": "none", "kid": "k1", "typ": "t+jwt"}) + "." + b64({"sub": "s"}) + "."
    for value, found in [
        (none, "none"),
        (token(typ="JWT"), "JWT"),
        (token(jku="https://evil.example/"), "jku"),
        ("garbage", "DecodeError"),
    ]:
        with pytest.raises(RefusedToken) as caught:
            decode(value)
        assert caught.value.found == found
