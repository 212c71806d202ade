"""The sign-in flow against a live test provider: the happy path, then every refusal."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from loginsite.oidc import (
    AuthorizationDenied,
    InvalidCallback,
    InvalidIdToken,
    InvalidUserinfo,
    OIDCClient,
    OIDCError,
    ProviderError,
    ProviderRefused,
    ProviderTimeout,
    ProviderUnavailable,
)
from loginsite.oidc.client import (
    TokenResponse,
    check_token_answer,
    check_userinfo_answer,
    token_request,
    tokens_from,
)
from tests.plugins.oidc_provider import REMOVE, TestProvider, b64url, public_jwk, s256

ACR_VERIFIED = "urn:acr.login.gov:verified"


def refused(provider: TestProvider, client: OIDCClient, error: type[OIDCError]) -> OIDCError:
    """Run a sign-in expected to fail with ``error``; the session-making steps never ran."""
    transaction, params = provider.sign_in(client)
    with pytest.raises(error) as caught:
        client.complete(transaction, params)
    return caught.value


def refused_id_token(provider: TestProvider, client: OIDCClient, reason: str) -> None:
    """The id_token is refused for ``reason`` and userinfo is never called."""
    exc = refused(provider, client, InvalidIdToken)
    assert exc.status == 400
    assert reason in exc.reason
    assert provider.calls_to("token"), "the code was exchanged"
    assert provider.calls_to("userinfo") == []


@pytest.fixture
def client(test_provider: TestProvider) -> OIDCClient:
    return test_provider.client()


# -- the happy path -----------------------------------------------------------------------


def test_sign_in_end_to_end(test_provider: TestProvider, client: OIDCClient) -> None:
    transaction, params = test_provider.sign_in(client, next_path="/account/settings")

    sign_in = client.complete(transaction, params)

    assert sign_in.sub == test_provider.sub
    assert sign_in.email == test_provider.email
    assert sign_in.email_verified is True
    assert sign_in.acr == "urn:acr.login.gov:auth-only"
    assert (sign_in.ial, sign_in.aal) == ("1", "2")
    assert sign_in.id_token_claims["nonce"] == transaction.nonce
    assert sign_in.userinfo["sub"] == test_provider.sub
    assert transaction.next_path == "/account/settings"
    assert test_provider.endpoints_called() == [
        "discovery",
        "authorize",
        "token",
        "jwks",
        "userinfo",
    ]


def test_token_request_carries_pkce_and_private_key_jwt(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    transaction, params = test_provider.sign_in(client)
    client.complete(transaction, params)

    [call] = test_provider.calls_to("token")
    form = call.form
    assert call.method == "POST"
    assert form["grant_type"] == "authorization_code"
    assert form["code"] == params["code"]
    assert form["code_verifier"] == transaction.code_verifier
    assert form["client_assertion_type"] == (
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    )
    assert "client_secret" not in form
    assertion = jwt.decode(
        form["client_assertion"],
        key=test_provider.client_key.public_key(),
        algorithms=["RS256"],
        audience=test_provider.url("token"),
        options={"require": ["iss", "sub", "aud", "jti", "iat", "exp"]},
    )
    assert assertion["iss"] == assertion["sub"] == test_provider.client_id
    assert assertion["aud"] == test_provider.url("token")
    assert assertion["exp"] - assertion["iat"] == 300
    assert len(assertion["jti"]) >= 32
    assert jwt.get_unverified_header(form["client_assertion"])["alg"] == "RS256"


def test_userinfo_gets_the_bearer_token_in_the_header_only(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    transaction, params = test_provider.sign_in(client)
    client.complete(transaction, params)

    [call] = test_provider.calls_to("userinfo")
    assert call.method == "GET"
    assert call.headers["Authorization"].startswith("Bearer ")
    assert call.query == {}
    assert call.form == {}


def test_authorization_url_carries_every_parameter(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    transaction, url = client.begin(next_path="/account", locale="es")

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == test_provider.url("authorize")
    query = dict(parse_qsl(parts.query))
    assert query == {
        "response_type": "code",
        "client_id": test_provider.client_id,
        "redirect_uri": "https://app.example.test/auth/callback",
        "scope": "openid email",
        "acr_values": "urn:acr.login.gov:auth-only",
        "prompt": "select_account",
        "state": transaction.state,
        "nonce": transaction.nonce,
        "code_challenge": s256(transaction.code_verifier),
        "code_challenge_method": "S256",
        "locale": "es",
    }
    assert transaction.code_challenge == query["code_challenge"]
    assert transaction.locale == "es"


def test_every_begin_is_fresh(client: OIDCClient) -> None:
    first, _ = client.begin(next_path="/")
    second, _ = client.begin(next_path="/")

    for name in ("state", "nonce", "code_verifier"):
        assert getattr(first, name) != getattr(second, name)
        assert len(getattr(first, name)) >= 43


def test_begin_sanitizes_next_path(client: OIDCClient) -> None:
    transaction, _ = client.begin(next_path="//evil.example/")

    assert transaction.next_path == "/account"


def test_asking_for_verified_identity_accepts_that_acr(test_provider: TestProvider) -> None:
    client = test_provider.client(acr_values=(ACR_VERIFIED,))
    transaction, params = test_provider.sign_in(client)

    assert client.complete(transaction, params).acr == ACR_VERIFIED


def test_client_assertions_are_never_reused(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    for _ in range(2):
        transaction, params = test_provider.sign_in(client)
        client.complete(transaction, params)

    jtis = [
        jwt.decode(c.form["client_assertion"], options={"verify_signature": False})["jti"]
        for c in test_provider.calls_to("token")
    ]
    assert len(set(jtis)) == 2


def test_logout_url(test_provider: TestProvider, client: OIDCClient) -> None:
    url = client.logout_url("s" * 43)

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == test_provider.url("logout")
    assert dict(parse_qsl(parts.query)) == {
        "client_id": test_provider.client_id,
        "post_logout_redirect_uri": "https://app.example.test/auth/signed-out",
        "state": "s" * 43,
    }
    assert "id_token_hint" not in url


# -- the callback -------------------------------------------------------------------------


def test_access_denied_says_you_cancelled(test_provider: TestProvider, client: OIDCClient) -> None:
    test_provider.authorize_error = "access_denied"

    exc = refused(test_provider, client, AuthorizationDenied)

    assert exc.status == 400
    assert exc.code == "sign_in_cancelled"
    assert test_provider.calls_to("token") == []


@pytest.mark.parametrize("error", ["invalid_request", "server_error", "<script>"])
def test_other_errors_are_a_friendly_refusal(
    test_provider: TestProvider, client: OIDCClient, error: str
) -> None:
    test_provider.authorize_error = error

    exc = refused(test_provider, client, AuthorizationDenied)

    assert exc.status == 400
    assert exc.code == "sign_in_denied"
    assert error in exc.reason
    assert test_provider.calls_to("token") == []


@pytest.mark.parametrize(
    ("bend", "reason"),
    [
        ({"code": REMOVE}, "no usable code"),
        ({"code": ""}, "no usable code"),
        ({"code": "x" * 5000}, "no usable code"),
        ({"state": REMOVE}, "state"),
        ({"state": "another-state-another-state-another-state-x"}, "state"),
        ({"iss": "https://evil.example/"}, "iss"),
    ],
)
def test_bad_callback_is_refused_before_the_token_endpoint(
    test_provider: TestProvider, client: OIDCClient, bend: dict[str, Any], reason: str
) -> None:
    transaction, params = test_provider.sign_in(client)
    for key, value in bend.items():
        if value is REMOVE:
            params.pop(key)
        else:
            params[key] = value

    with pytest.raises(InvalidCallback) as caught:
        client.complete(transaction, params)

    assert caught.value.status == 400
    assert reason in caught.value.reason
    assert test_provider.calls_to("token") == []


def test_rfc9207_iss_equal_to_the_issuer_is_accepted(test_provider: TestProvider) -> None:
    test_provider.send_iss = True
    test_provider.discovery_overrides["authorization_response_iss_parameter_supported"] = True
    client = test_provider.client()
    transaction, params = test_provider.sign_in(client)
    assert params["iss"] == test_provider.issuer

    assert client.complete(transaction, params).sub == test_provider.sub


def test_rfc9207_iss_is_required_when_discovery_promises_it(
    test_provider: TestProvider,
) -> None:
    test_provider.discovery_overrides["authorization_response_iss_parameter_supported"] = True
    client = test_provider.client()

    exc = refused(test_provider, client, InvalidCallback)

    assert "RFC 9207" in exc.reason
    assert test_provider.calls_to("token") == []


def test_a_code_works_once(test_provider: TestProvider, client: OIDCClient) -> None:
    transaction, params = test_provider.sign_in(client)
    client.complete(transaction, params)

    with pytest.raises(ProviderRefused) as caught:
        client.complete(transaction, params)

    assert caught.value.status == 400
    assert len(test_provider.calls_to("userinfo")) == 1


def test_a_wrong_pkce_verifier_is_refused_by_the_provider(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    transaction, params = test_provider.sign_in(client)
    other = dataclasses.replace(transaction, code_verifier=secrets.token_urlsafe(32))

    with pytest.raises(ProviderRefused) as caught:
        client.complete(other, params)

    assert "code_verifier" in caught.value.reason
    assert test_provider.endpoints_called()[-1] == "token"


def test_a_client_key_the_provider_does_not_know_is_refused(
    test_provider: TestProvider, stranger_key: rsa.RSAPrivateKey
) -> None:
    pem = stranger_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    client = test_provider.client(private_key_pem=pem)

    exc = refused(test_provider, client, ProviderRefused)

    assert "client_assertion" in exc.reason
    assert "jwks" not in test_provider.endpoints_called()


# -- the token endpoint misbehaving -------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "content_type", "error", "reason"),
    [
        (400, {"error": "Code is invalid"}, "application/json", ProviderRefused, "Code is invalid"),
        (401, {"error": ["a", "b"]}, "application/json", ProviderRefused, "a; b"),
        (400, "<html>Bad</html>", "text/html", ProviderError, "not JSON"),
        (400, {"message": "no error field"}, "application/json", ProviderError, "HTTP 400"),
        (500, {"error": "boom"}, "application/json", ProviderError, "HTTP 500"),
        (503, "<html>Maintenance</html>", "text/html", ProviderError, "HTTP 503"),
        (200, "<html>Welcome</html>", "text/html", ProviderError, "not JSON"),
        (200, "\x00\xff garbage", "application/json", ProviderError, "not JSON"),
        (200, "[1, 2]", "application/json", ProviderError, "not a JSON object"),
        (302, "", "text/html", ProviderError, "HTTP 302"),
    ],
)
def test_token_endpoint_failures_are_mapped(
    test_provider: TestProvider,
    client: OIDCClient,
    status: int,
    body: Any,
    content_type: str,
    error: type[OIDCError],
    reason: str,
) -> None:
    test_provider.respond("token", status=status, body=body, content_type=content_type)

    exc = refused(test_provider, client, error)

    assert type(exc) is error
    assert exc.status == (400 if error is ProviderRefused else 502)
    assert reason in exc.reason
    assert test_provider.endpoints_called()[-1] == "token"


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"id_token": REMOVE}, "no id_token"),
        ({"id_token": 42}, "no id_token"),
        ({"access_token": REMOVE}, "unusable token response"),
        ({"token_type": "mac"}, "Bearer"),
        ({"expires_in": "soon"}, "unusable token response"),
        ({"error": "invalid_grant"}, "unusable token response"),
    ],
)
def test_odd_token_responses_are_provider_errors(
    test_provider: TestProvider, client: OIDCClient, overrides: dict[str, Any], reason: str
) -> None:
    test_provider.token_overrides.update(overrides)

    exc = refused(test_provider, client, ProviderError)

    assert exc.status == 502
    assert reason in exc.reason
    assert test_provider.endpoints_called()[-1] == "token"


def test_slow_token_endpoint_times_out(test_provider: TestProvider) -> None:
    client = test_provider.client(timeout=0.5)
    test_provider.stall("token")

    exc = refused(test_provider, client, ProviderTimeout)

    assert exc.status == 504
    assert test_provider.endpoints_called()[-1] == "token"


def test_a_trickled_token_response_is_cut_off_at_the_deadline(test_provider: TestProvider) -> None:
    client = test_provider.client(timeout=0.5)
    test_provider.trickle("token", b'{"access_token": "' + b"x" * 380 + b'"}', interval=0.05)

    exc = refused(test_provider, client, ProviderTimeout)

    assert exc.status == 504
    assert "took longer than 0.5 s" in exc.reason
    assert test_provider.endpoints_called()[-1] == "token"


# -- the id_token: claims -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://evil.example/"}, "iss"),
        ({"iss": REMOVE}, "'iss'"),
        ({"aud": "urn:someone:else"}, "aud"),
        ({"aud": REMOVE}, "'aud'"),
        ({"aud": ["urn:someone:else"]}, "aud"),
        ({"exp": int(time.time()) - 3600}, "expired"),
        ({"exp": REMOVE}, "'exp'"),
        ({"exp": str(int(time.time()) + 600)}, "exp is not a number"),
        ({"iat": REMOVE}, "'iat'"),
        ({"iat": int(time.time()) + 3600}, "not valid yet"),
        ({"nbf": int(time.time()) + 3600}, "not valid yet"),
        ({"sub": REMOVE}, "'sub'"),
        ({"sub": ""}, "sub"),
        ({"sub": "   "}, "sub"),
        ({"sub": 12345}, "InvalidSubjectError"),
        ({"nonce": REMOVE}, "'nonce'"),
        ({"nonce": "a-nonce-from-some-other-sign-in-attempt-xx"}, "nonce"),
        ({"nonce": 7}, "nonce"),
        ({"acr": ACR_VERIFIED}, "acr"),
        ({"acr": REMOVE}, "acr"),
        ({"acr": "http://idmanagement.gov/ns/assurance/ial/2"}, "acr"),
        ({"azp": "urn:someone:else"}, "azp"),
        ({"at_hash": b64url(b"0" * 16)}, "at_hash"),
    ],
)
def test_id_token_claims_are_checked(
    test_provider: TestProvider, client: OIDCClient, claims: dict[str, Any], reason: str
) -> None:
    test_provider.id_token_claims.update(claims)

    refused_id_token(test_provider, client, reason)


def test_issuer_without_its_trailing_slash_is_refused(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    test_provider.id_token_claims["iss"] = test_provider.issuer.rstrip("/")

    refused_id_token(test_provider, client, "iss")


def test_one_element_audience_list_is_accepted(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    test_provider.id_token_claims["aud"] = [test_provider.client_id]
    transaction, params = test_provider.sign_in(client)

    assert client.complete(transaction, params).sub == test_provider.sub


def test_other_audiences_need_azp_naming_us(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    test_provider.id_token_claims["aud"] = [test_provider.client_id, "urn:someone:else"]

    refused_id_token(test_provider, client, "azp")


def test_other_audiences_with_azp_naming_us_are_accepted(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    test_provider.id_token_claims["aud"] = [test_provider.client_id, "urn:someone:else"]
    test_provider.id_token_claims["azp"] = test_provider.client_id
    transaction, params = test_provider.sign_in(client)

    assert client.complete(transaction, params).sub == test_provider.sub


def test_clock_skew_within_leeway_is_accepted(test_provider: TestProvider) -> None:
    client = test_provider.client(leeway=30)
    test_provider.id_token_claims["exp"] = int(time.time()) - 10
    test_provider.id_token_claims["iat"] = int(time.time()) + 10
    transaction, params = test_provider.sign_in(client)

    assert client.complete(transaction, params).sub == test_provider.sub


def test_leeway_comes_from_config(test_provider: TestProvider) -> None:
    client = test_provider.client(leeway=0)
    test_provider.id_token_claims["exp"] = int(time.time()) - 10

    refused_id_token(test_provider, client, "expired")


# -- the id_token: header and signature ---------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "HS256", "rs256", "Rs256", "RS512", ""])
def test_any_alg_but_rs256_is_refused_before_fetching_keys(
    test_provider: TestProvider, client: OIDCClient, alg: str
) -> None:
    test_provider.id_token_alg = alg
    if alg.upper() not in ("NONE", "HS256", "RS256"):
        test_provider.id_token_factory = lambda claims, header: test_provider.sign(
            claims, header=header, alg=alg, signing_alg="RS256"
        )

    refused_id_token(test_provider, client, "alg")
    assert test_provider.calls_to("jwks") == []


def test_hs256_keyed_with_the_providers_public_key_is_refused(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    test_provider.id_token_alg = "HS256"
    test_provider.id_token_key = test_provider.public_pem()

    refused_id_token(test_provider, client, "alg")


def test_missing_alg_is_refused(test_provider: TestProvider, client: OIDCClient) -> None:
    test_provider.id_token_headers["alg"] = REMOVE

    refused_id_token(test_provider, client, "alg")


@pytest.mark.parametrize("header", ["jku", "x5u", "jwk", "x5c"])
def test_key_pointer_headers_are_refused(
    test_provider: TestProvider, client: OIDCClient, header: str, stranger_key: rsa.RSAPrivateKey
) -> None:
    attacker = stranger_key
    values = {
        "jku": "https://evil.example/jwks.json",
        "x5u": "https://evil.example/cert.pem",
        "jwk": public_jwk("evil", attacker),
        "x5c": ["MIIBIjANBgkq"],
    }
    test_provider.id_token_headers[header] = values[header]
    # Signed with the attacker's key, named by the header: trusting it would let anyone in.
    test_provider.id_token_key = attacker

    refused_id_token(test_provider, client, header)


def test_key_pointer_headers_are_refused_even_on_a_genuine_token(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    test_provider.id_token_headers["jku"] = test_provider.url("jwks")

    refused_id_token(test_provider, client, "jku")


@pytest.mark.parametrize("crit", [["exp"], ["b64"], ["https://example.test/ext"]])
def test_critical_extensions_are_refused(
    test_provider: TestProvider, client: OIDCClient, crit: list[str]
) -> None:
    test_provider.id_token_headers["crit"] = crit

    exc = refused(test_provider, client, InvalidIdToken)

    assert "crit" in exc.reason or "header" in exc.reason
    assert test_provider.calls_to("userinfo") == []


def test_a_token_signed_by_another_key_with_a_known_kid_is_refused(
    test_provider: TestProvider, client: OIDCClient, stranger_key: rsa.RSAPrivateKey
) -> None:
    test_provider.id_token_key = stranger_key

    refused_id_token(test_provider, client, "signature")


def test_a_tampered_payload_is_refused(test_provider: TestProvider, client: OIDCClient) -> None:
    def tamper(claims: dict[str, Any], header: dict[str, Any]) -> str:
        genuine = test_provider.sign(claims, header=header)
        head, _, signature = genuine.split(".")
        forged = b64url(json.dumps({**claims, "sub": "someone-else"}).encode())
        return f"{head}.{forged}.{signature}"

    test_provider.id_token_factory = tamper

    refused_id_token(test_provider, client, "signature")


@pytest.mark.parametrize("garbage", ["not-a-jwt", "a.b.c", "", "eyJhbGciOiJSUzI1NiJ9..."])
def test_garbage_id_tokens_are_refused(
    test_provider: TestProvider, client: OIDCClient, garbage: str
) -> None:
    test_provider.id_token_factory = lambda claims, header: garbage

    exc = refused(test_provider, client, OIDCError)

    assert isinstance(exc, InvalidIdToken | ProviderError)
    assert test_provider.calls_to("userinfo") == []


def test_unknown_kid_is_refused_after_one_rate_limited_refetch(
    test_provider: TestProvider, client: OIDCClient, stranger_key: rsa.RSAPrivateKey
) -> None:
    transaction, params = test_provider.sign_in(client)
    client.complete(transaction, params)  # the JWKS is cached now
    test_provider.calls.clear()
    test_provider.id_token_headers["kid"] = "no-such-kid"
    test_provider.id_token_key = stranger_key

    refused_id_token(test_provider, client, "kid")
    assert len(test_provider.calls_to("jwks")) == 1

    test_provider.calls.clear()
    refused_id_token(test_provider, client, "rate-limited")
    assert test_provider.calls_to("jwks") == []


def test_rotated_keys_are_picked_up(test_provider: TestProvider, client: OIDCClient) -> None:
    transaction, params = test_provider.sign_in(client)
    client.complete(transaction, params)
    test_provider.rotate_keys(keep_old=False)

    transaction, params = test_provider.sign_in(client)

    assert client.complete(transaction, params).sub == test_provider.sub
    assert len(test_provider.calls_to("jwks")) == 2


def test_no_kid_is_fine_with_a_single_key(test_provider: TestProvider, client: OIDCClient) -> None:
    test_provider.id_token_headers["kid"] = REMOVE
    transaction, params = test_provider.sign_in(client)

    assert client.complete(transaction, params).sub == test_provider.sub


def test_no_kid_is_refused_with_several_keys(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    test_provider.rotate_keys(keep_old=True)
    test_provider.id_token_headers["kid"] = REMOVE

    refused_id_token(test_provider, client, "no kid")


# -- userinfo -----------------------------------------------------------------------------


def test_userinfo_sub_mismatch_is_refused(test_provider: TestProvider, client: OIDCClient) -> None:
    test_provider.userinfo_overrides["sub"] = "someone-else"

    exc = refused(test_provider, client, InvalidUserinfo)

    assert exc.status == 502
    assert "sub" in exc.reason


def test_userinfo_without_sub_is_refused(test_provider: TestProvider, client: OIDCClient) -> None:
    test_provider.userinfo_overrides["sub"] = REMOVE

    refused(test_provider, client, InvalidUserinfo)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "error"),
    [
        (401, {"error": "Invalid bearer token."}, "application/json", ProviderRefused),
        (500, {"error": "boom"}, "application/json", ProviderError),
        (200, "<html>hello</html>", "text/html", ProviderError),
        (200, '"just a string"', "application/json", ProviderError),
        (404, "", "text/plain", ProviderError),
    ],
)
def test_userinfo_failures_are_mapped(
    test_provider: TestProvider,
    client: OIDCClient,
    status: int,
    body: Any,
    content_type: str,
    error: type[OIDCError],
) -> None:
    test_provider.respond("userinfo", status=status, body=body, content_type=content_type)

    exc = refused(test_provider, client, error)

    assert type(exc) is error
    assert exc.status == (400 if error is ProviderRefused else 502)


def test_slow_userinfo_times_out(test_provider: TestProvider) -> None:
    client = test_provider.client(timeout=0.5)
    test_provider.stall("userinfo")

    exc = refused(test_provider, client, ProviderTimeout)

    assert exc.status == 504


# -- the provider being away --------------------------------------------------------------


def test_provider_down_means_503_on_begin(
    closed_port_url: str, test_provider: TestProvider
) -> None:
    client = OIDCClient(test_provider.client_config(issuer=closed_port_url + "/"))

    with pytest.raises(ProviderUnavailable) as caught:
        client.begin(next_path="/account")

    assert caught.value.status == 503
    assert "discovery" in caught.value.reason


def test_slow_discovery_means_504_on_begin(test_provider: TestProvider) -> None:
    test_provider.stall("discovery")
    client = test_provider.client(timeout=0.5)

    with pytest.raises(ProviderTimeout) as caught:
        client.begin(next_path="/account")

    assert caught.value.status == 504


def test_errors_never_leak_secrets_into_the_reason(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    transaction, params = test_provider.sign_in(client)
    test_provider.userinfo_overrides["sub"] = "someone-else"

    with pytest.raises(OIDCError) as caught:
        client.complete(transaction, params)

    text = caught.value.reason + str(caught.value) + repr(caught.value)
    assert params["code"] not in text
    assert transaction.code_verifier not in text
    assert transaction.nonce not in text
    assert test_provider.last_id_token is not None
    assert test_provider.last_id_token not in text


# -- the token exchange in its three steps, without HTTP ------------------------------------


def test_token_request_carries_the_code_the_verifier_and_the_assertion() -> None:
    request = token_request(code="c", code_verifier="v", client_assertion="a.b.c")

    assert request == {
        "code": "c",
        "code_verifier": "v",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "a.b.c",
    }


@pytest.mark.parametrize(
    ("status", "body", "error", "reason"),
    [
        (400, b'{"error": "Code is invalid"}', ProviderRefused, "Code is invalid"),
        (400, b"{}", ProviderError, "without an error"),
        (502, b"{}", ProviderError, "HTTP 502"),
        (307, b"", ProviderError, "HTTP 307"),
        (200, b"<html>", ProviderError, "not JSON"),
        (200, b"[" * 100000 + b"]" * 100000, ProviderError, "not JSON"),
    ],
)
def test_check_token_answer_refuses_with_a_reason(
    status: int, body: bytes, error: type[OIDCError], reason: str
) -> None:
    with pytest.raises(error) as caught:
        check_token_answer(status, body)

    assert type(caught.value) is error
    assert reason in caught.value.reason


def test_check_token_answer_accepts_a_200_json_object() -> None:
    check_token_answer(200, b'{"access_token": "x"}')


def test_tokens_from_wants_both_tokens_and_bearer() -> None:
    good = {"access_token": "at", "id_token": "it", "token_type": "bearer"}

    assert tokens_from(good) == TokenResponse(access_token="at", id_token="it")
    for bad, reason in [
        ({**good, "access_token": ""}, "access_token"),
        ({**good, "id_token": None}, "id_token"),
        ({**good, "token_type": "DPoP"}, "Bearer"),
    ]:
        with pytest.raises(ProviderError, match=reason):
            tokens_from(bad)
    assert "at" not in repr(tokens_from(good))


def test_check_userinfo_answer() -> None:
    assert check_userinfo_answer(200, b'{"sub": "s1", "email": "e"}', "s1")["email"] == "e"
    with pytest.raises(InvalidUserinfo):
        check_userinfo_answer(200, b'{"sub": "s2"}', "s1")
    with pytest.raises(InvalidUserinfo):
        check_userinfo_answer(200, b'{"sub": "\\ud800"}', "s1")
    with pytest.raises(ProviderRefused):
        check_userinfo_answer(401, b"", "s1")
    with pytest.raises(ProviderError, match="HTTP 500"):
        check_userinfo_answer(500, b"{}", "s1")


# -- OAuth2Session under loginsite's rules ----------------------------------------------------


def test_the_token_request_authenticates_with_the_assertion_only(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    transaction, params = test_provider.sign_in(client)
    client.complete(transaction, params)

    [call] = test_provider.calls_to("token")
    assert "Authorization" not in call.headers  # no HTTP Basic next to private_key_jwt
    assert "client_id" not in call.form
    assert call.form["redirect_uri"] == "https://app.example.test/auth/callback"


def test_a_redirecting_userinfo_is_not_followed(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    test_provider.respond("userinfo", status=302, body=b"")
    test_provider.canned["userinfo"].content_type = "text/plain"

    exc = refused(test_provider, client, ProviderError)

    assert "HTTP 302" in exc.reason
    assert test_provider.endpoints_called()[-1] == "userinfo"


def test_an_oversized_token_answer_is_cut_off(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    test_provider.respond("token", body=b'{"a": "' + b"x" * (1024 * 1024 + 10) + b'"}')

    exc = refused(test_provider, client, ProviderError)

    assert "larger than" in exc.reason


# -- iat against the start of the sign-in (issue 16.2) --------------------------------------


def test_an_id_token_issued_long_ago_is_refused(
    test_provider: TestProvider, client: OIDCClient
) -> None:
    """Signature, nonce and exp all valid, but iat a week before the sign-in started."""
    test_provider.id_token_claims["iat"] = int(time.time()) - 7 * 86400

    refused_id_token(test_provider, client, "earlier than the start of this sign-in")


def test_an_id_token_issued_just_before_the_sign_in_is_within_the_leeway(
    test_provider: TestProvider,
) -> None:
    client = test_provider.client(leeway=30)
    test_provider.id_token_claims["iat"] = int(time.time()) - 20
    transaction, params = test_provider.sign_in(client)

    assert client.complete(transaction, params).sub == test_provider.sub


def test_oauthlib_http_is_allowed_only_in_development_mode(
    test_provider: TestProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No process-wide OAUTHLIB_INSECURE_TRANSPORT unless allow_http (development only)."""
    monkeypatch.delenv("OAUTHLIB_INSECURE_TRANSPORT", raising=False)
    test_provider.client(issuer="https://idp.example.test/", allow_http=False)
    assert "OAUTHLIB_INSECURE_TRANSPORT" not in os.environ

    test_provider.client(allow_http=True)
    assert os.environ["OAUTHLIB_INSECURE_TRANSPORT"] == "1"


def test_requests_oauthlib_debug_records_never_reach_the_log(
    test_provider: TestProvider, client: OIDCClient, caplog: pytest.LogCaptureFixture
) -> None:
    """requests-oauthlib logs request bodies and tokens at DEBUG: those records are dropped."""
    with caplog.at_level(logging.DEBUG):
        transaction, params = test_provider.sign_in(client)
        client.complete(transaction, params)

    text = caplog.text
    assert params["code"] not in text
    assert transaction.code_verifier not in text
    assert test_provider.last_id_token is not None
    assert test_provider.last_id_token not in text
    assert not [r for r in caplog.records if r.name.startswith("requests_oauthlib")]
