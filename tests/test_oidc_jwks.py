"""The provider's JWKS: keys chosen by kid, unknown entries skipped, refetches rate-limited."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from loginsite.oidc import InvalidIdToken, ProviderError, ProviderKeys, ProviderTimeout
from loginsite.oidc.jwks import usable_signing_keys
from tests.plugins.clock import FakeClock
from tests.plugins.oidc_provider import TestProvider, public_jwk


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def keys(clock: FakeClock) -> ProviderKeys:
    return ProviderKeys(
        http=requests.Session(), timeout=2, ttl=3600, refetch_interval=60, clock=clock
    )


def same_key(found: jwt.PyJWK, expected: rsa.RSAPrivateKey) -> bool:
    return found.key.public_numbers() == expected.public_key().public_numbers()


def test_key_is_chosen_by_kid(test_provider: TestProvider, keys: ProviderKeys) -> None:
    first = test_provider.active_kid
    second = test_provider.rotate_keys(keep_old=True)

    assert same_key(
        keys.signing_key(test_provider.url("jwks"), first), test_provider.signing_keys[first]
    )
    assert same_key(
        keys.signing_key(test_provider.url("jwks"), second), test_provider.signing_keys[second]
    )
    assert len(test_provider.calls_to("jwks")) == 1


def test_unknown_kid_refetches_once_then_is_rate_limited(
    test_provider: TestProvider, keys: ProviderKeys, clock: FakeClock
) -> None:
    jwks = test_provider.url("jwks")
    keys.signing_key(jwks, test_provider.active_kid)

    with pytest.raises(InvalidIdToken, match="not in the JWKS"):
        keys.signing_key(jwks, "made-up-1")
    assert len(test_provider.calls_to("jwks")) == 2

    clock.advance(59)
    with pytest.raises(InvalidIdToken, match="rate-limited"):
        keys.signing_key(jwks, "made-up-2")
    assert len(test_provider.calls_to("jwks")) == 2

    clock.advance(1)
    with pytest.raises(InvalidIdToken, match="not in the JWKS"):
        keys.signing_key(jwks, "made-up-3")
    assert len(test_provider.calls_to("jwks")) == 3


def test_a_rotated_key_is_found_by_the_refetch(
    test_provider: TestProvider, keys: ProviderKeys
) -> None:
    jwks = test_provider.url("jwks")
    keys.signing_key(jwks, test_provider.active_kid)
    new_kid = test_provider.rotate_keys(keep_old=False)

    found = keys.signing_key(jwks, new_kid)

    assert same_key(found, test_provider.active_key)
    assert len(test_provider.calls_to("jwks")) == 2


def test_known_kids_do_not_refetch(
    test_provider: TestProvider, keys: ProviderKeys, clock: FakeClock
) -> None:
    jwks = test_provider.url("jwks")
    for _ in range(5):
        keys.signing_key(jwks, test_provider.active_kid)
        clock.advance(100)

    assert len(test_provider.calls_to("jwks")) == 1


def test_the_jwks_is_refreshed_after_its_ttl(
    test_provider: TestProvider, keys: ProviderKeys, clock: FakeClock
) -> None:
    jwks = test_provider.url("jwks")
    keys.signing_key(jwks, test_provider.active_kid)
    clock.advance(3600)

    keys.signing_key(jwks, test_provider.active_kid)

    assert len(test_provider.calls_to("jwks")) == 2


def test_unusable_entries_are_skipped_not_fatal(
    test_provider: TestProvider, keys: ProviderKeys
) -> None:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)  # noqa: S505 (too small on purpose)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key()))
    test_provider.extra_jwks = [
        "not an object",
        {"kty": "OKP", "crv": "X448", "x": "abc", "kid": "okp"},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "oct"},
        {**ec_jwk, "kid": "ec"},
        {"kty": "RSA", "kid": "broken", "n": "!!", "e": "AQAB"},
        {**public_jwk("enc", test_provider.active_key), "use": "enc"},
        {**public_jwk("ps", test_provider.active_key), "alg": "PS256"},
        {**public_jwk("small", small)},
        {"kty": "unknown-type", "kid": "what"},
    ]

    found = keys.signing_key(test_provider.url("jwks"), test_provider.active_kid)

    assert same_key(found, test_provider.active_key)
    for kid in ("okp", "oct", "ec", "broken", "enc", "ps", "small", "what"):
        with pytest.raises(InvalidIdToken):
            keys.signing_key(test_provider.url("jwks"), kid)


def test_no_kid_with_one_usable_key_picks_it(
    test_provider: TestProvider, keys: ProviderKeys
) -> None:
    test_provider.extra_jwks = [{"kty": "oct", "k": "c2VjcmV0"}]

    assert same_key(keys.signing_key(test_provider.url("jwks"), None), test_provider.active_key)


def test_no_kid_with_several_keys_is_refused(
    test_provider: TestProvider, keys: ProviderKeys
) -> None:
    test_provider.rotate_keys(keep_old=True)

    with pytest.raises(InvalidIdToken, match="no kid"):
        keys.signing_key(test_provider.url("jwks"), None)


@pytest.mark.parametrize(
    "document",
    [{"keys": "nope"}, {"no_keys": []}, {"keys": {"kid": "x"}}],
)
def test_a_jwks_without_a_keys_list_is_a_provider_error(document: dict[str, Any]) -> None:
    with pytest.raises(ProviderError):
        usable_signing_keys(document)


def test_jwks_failures_are_mapped(test_provider: TestProvider, keys: ProviderKeys) -> None:
    test_provider.respond("jwks", status=500, body="<html>down</html>", content_type="text/html")

    with pytest.raises(ProviderError) as caught:
        keys.signing_key(test_provider.url("jwks"), test_provider.active_kid)

    assert caught.value.status == 502


def test_slow_jwks_times_out(test_provider: TestProvider, clock: FakeClock) -> None:
    keys = ProviderKeys(http=requests.Session(), timeout=0.5, clock=clock)
    test_provider.stall("jwks")

    with pytest.raises(ProviderTimeout):
        keys.signing_key(test_provider.url("jwks"), test_provider.active_kid)


def test_jwks_failure_during_sign_in_means_no_userinfo(test_provider: TestProvider) -> None:
    client = test_provider.client()
    test_provider.respond("jwks", status=503, body="down", content_type="text/plain")
    transaction, params = test_provider.sign_in(client)

    with pytest.raises(ProviderError):
        client.complete(transaction, params)

    assert test_provider.calls_to("userinfo") == []
