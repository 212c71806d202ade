"""The development identity provider, driven over real HTTP like login.gov would be."""

from __future__ import annotations

import base64
import hashlib
import html
import os
import re
import secrets
import stat
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa

from loginsite import main
from loginsite.devidp import get_provider
from loginsite.devidp.provider import DevProvider, half_hash
from loginsite.settings import SettingsError
from tests.conftest import CLIENT_ID
from tests.plugins.live_server import LiveServer

AUTH_ONLY = "urn:acr.login.gov:auth-only"
VERIFIED = "urn:acr.login.gov:verified"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_HIDDEN = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Idp:
    url: str
    app: Any
    provider: DevProvider
    client_key: rsa.RSAPrivateKey

    @property
    def issuer(self) -> str:
        return self.url + "/_devidp/"

    @property
    def redirect_uri(self) -> str:
        return self.url + "/auth/callback"

    @property
    def post_logout_redirect_uri(self) -> str:
        return self.url + "/auth/signed-out"

    def endpoint(self, path: str) -> str:
        return self.url + "/_devidp" + path

    @property
    def token_endpoint(self) -> str:
        return self.endpoint("/api/openid_connect/token")

    def authorize_params(self, **overrides: str | None) -> dict[str, str]:
        verifier = secrets.token_urlsafe(48)
        params: dict[str, str | None] = {
            "client_id": CLIENT_ID,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": "openid email",
            "acr_values": AUTH_ONLY,
            "state": secrets.token_urlsafe(24),
            "nonce": secrets.token_urlsafe(24),
            "prompt": "select_account",
            "code_challenge": b64url(hashlib.sha256(verifier.encode()).digest()),
            "code_challenge_method": "S256",
            "_verifier": verifier,
        }
        params.update(overrides)
        return {k: v for k, v in params.items() if v is not None}

    def assertion(self, **overrides: Any) -> str:
        now = int(time.time())
        claims = {
            "iss": CLIENT_ID,
            "sub": CLIENT_ID,
            "aud": self.token_endpoint,
            "jti": secrets.token_urlsafe(16),
            "iat": now,
            "exp": now + 300,
        }
        key = overrides.pop("key", self.client_key)
        algorithm = overrides.pop("algorithm", "RS256")
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        return jwt.encode(claims, key, algorithm=algorithm)

    def token(self, code: str, verifier: str | None, /, **form: str) -> requests.Response:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
            **form,
        }
        if verifier is not None:
            data["code_verifier"] = verifier
        return requests.post(self.token_endpoint, data=data, timeout=5)


class Browser:
    """A requests.Session that follows nothing by itself, so each hop can be inspected."""

    def __init__(self, idp: Idp, session: requests.Session | None = None) -> None:
        self.idp = idp
        self.session = session or requests.Session()

    def get(self, url: str, params: dict[str, str] | None = None) -> requests.Response:
        return self.session.get(url, params=params, allow_redirects=False, timeout=5)

    def submit(self, page: requests.Response, url: str, **fields: str) -> requests.Response:
        """Post the page's form: its hidden fields (CSRF token included) plus ``fields``."""
        assert page.status_code == 200, page.text
        form = {name: html.unescape(value) for name, value in _HIDDEN.findall(page.text)}
        form.update(fields)
        return self.session.post(url, data=form, allow_redirects=False, timeout=5)

    def authorize(self, params: dict[str, str]) -> requests.Response:
        query = {k: v for k, v in params.items() if not k.startswith("_")}
        return self.get(self.idp.endpoint("/openid_connect/authorize"), query)

    def sign_in(
        self,
        params: dict[str, str],
        user: str = "alice@example.gov",
        level: str | None = None,
        **fields: str,
    ) -> dict[str, list[str]]:
        page = self.authorize(params)
        form = {"user": user, "action": "approve", **fields}
        if level:
            form["level"] = level
        answer = self.submit(page, self.idp.endpoint("/openid_connect/authorize"), **form)
        assert answer.status_code == 303, answer.text
        location = answer.headers["Location"]
        assert location.startswith(self.idp.redirect_uri + "?")
        return parse_qs(urlsplit(location).query)


def _devidp_app_settings(url: str, data_dir: Path) -> dict[str, str]:
    return {
        "loginsite.public_url": url,
        "loginsite.idp.issuer": url + "/_devidp/",
        "pyramid.includes": "loginsite.devidp",
        "loginsite.devidp.data_dir": str(data_dir),
    }


@pytest.fixture
def start_idp(
    live_server: Callable[[], Any],
    make_app: Callable[..., Any],
    client_private_key: rsa.RSAPrivateKey,
    tmp_path: Path,
) -> Callable[..., Idp]:
    """A provider of its own, served by the app built exactly as ``make_app`` builds it."""

    def start(**overrides: str) -> Idp:
        server = live_server()
        app = make_app(**{**_devidp_app_settings(server.url, tmp_path / "devidp"), **overrides})
        server.start(app)
        return Idp(server.url, app, get_provider(app.registry), client_private_key)

    return start


@pytest.fixture(scope="module")
def shared_idp(
    client_key_file: Path,
    client_private_key: rsa.RSAPrivateKey,
    session_keys: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Idp]:
    """One server for the rule-by-rule tests (a waitress shutdown takes up to a second).

    The settings are conftest's ``settings`` fixture (function-scoped, so not usable here) plus
    the provider's.
    """
    server = LiveServer()
    app = main(
        {},
        **{
            "loginsite.environment": "development",
            "loginsite.session.keys": session_keys,
            "loginsite.session.secure": "false",
            "loginsite.revocation.store": "memory",
            "loginsite.idp.client_id": CLIENT_ID,
            "loginsite.idp.private_key": str(client_key_file),
            "loginsite.idp.allow_http": "true",
            "loginsite.idp.timeout": "2",
            **_devidp_app_settings(server.url, tmp_path_factory.mktemp("devidp")),
        },
    )
    server.start(app)
    yield Idp(server.url, app, get_provider(app.registry), client_private_key)
    server.stop()


@pytest.fixture
def idp(shared_idp: Idp) -> Iterator[Idp]:
    yield shared_idp
    shared_idp.provider.clock = time.time


@pytest.fixture
def browser(idp: Idp) -> Iterator[Browser]:
    browser = Browser(idp)
    yield browser
    browser.session.close()  # else the server waits for the keep-alive connection to go


def signed_in_code(idp: Idp, browser: Browser, **overrides: str | None) -> tuple[str, str]:
    params = idp.authorize_params(**overrides)
    answer = browser.sign_in(params)
    return answer["code"][0], params.get("_verifier", "")


def assert_error_page(response: requests.Response, words: str) -> None:
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert "text/html" in response.headers["Content-Type"]
    assert words in html.unescape(response.text)


def assert_invalid_request(response: requests.Response, state: str | None, words: str) -> None:
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(response.request.url.split("/_devidp")[0] + "/auth/callback?")
    query = parse_qs(urlsplit(location).query)
    assert query["error"] == ["invalid_request"]
    assert words in query["error_description"][0]
    assert query.get("state") == ([state] if state else None)
    assert "code" not in query


# -- the happy path ---------------------------------------------------------------------------


def test_discovery_and_jwks_look_like_login_gov(idp: Idp) -> None:
    meta = requests.get(idp.endpoint("/.well-known/openid-configuration"), timeout=5).json()
    assert meta["issuer"] == idp.issuer
    assert meta["issuer"].endswith("/")
    assert meta["authorization_endpoint"] == idp.endpoint("/openid_connect/authorize")
    assert meta["token_endpoint"] == idp.token_endpoint
    assert meta["userinfo_endpoint"] == idp.endpoint("/api/openid_connect/userinfo")
    assert meta["jwks_uri"] == idp.endpoint("/api/openid_connect/certs")
    assert meta["end_session_endpoint"] == idp.endpoint("/openid_connect/logout")
    assert meta["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert meta["id_token_signing_alg_values_supported"] == ["RS256"]
    assert meta["subject_types_supported"] == ["pairwise"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert {AUTH_ONLY, VERIFIED} <= set(meta["acr_values_supported"])

    jwks = requests.get(meta["jwks_uri"], timeout=5).json()
    (entry,) = jwks["keys"]
    assert entry["kty"] == "RSA"
    assert entry["kid"]
    assert entry["alg"] == "RS256"
    assert "d" not in entry
    assert jwt.PyJWK(entry).key.key_size >= 2048


def test_full_code_flow_to_id_token_and_userinfo(start_idp: Callable[..., Idp]) -> None:
    idp = start_idp()  # its own server, built by make_app like every other app
    with requests.Session() as session:
        browser = Browser(idp, session)
        full_code_flow(idp, browser)


def full_code_flow(idp: Idp, browser: Browser) -> None:
    params = idp.authorize_params(acr_values=VERIFIED, scope="openid email profile")
    page = browser.authorize(params)
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Development identity provider — not login.gov" in text
    assert "<legend>Who is signing in?</legend>" in text
    assert "<legend>Assurance level to return</legend>" in text
    assert "<main" in text
    assert "<h1>" in text
    assert "<script" not in text
    assert "style=" not in text
    assert "<style" not in text
    assert "/static/devidp.css" in text

    answer = browser.submit(
        page,
        idp.endpoint("/openid_connect/authorize"),
        user="bob@example.gov",
        level=VERIFIED,
        action="approve",
    )
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query["state"] == [params["state"]]
    code = query["code"][0]

    tokens = idp.token(code, params["_verifier"])
    assert tokens.status_code == 200, tokens.text
    assert tokens.headers["Cache-Control"] == "no-store"
    body = tokens.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600

    jwks = requests.get(idp.endpoint("/api/openid_connect/certs"), timeout=5).json()
    header = jwt.get_unverified_header(body["id_token"])
    assert header["alg"] == "RS256"
    key = next(jwt.PyJWK(k) for k in jwks["keys"] if k["kid"] == header["kid"])
    claims = jwt.decode(
        body["id_token"],
        key,
        algorithms=["RS256"],
        audience=CLIENT_ID,
        issuer=idp.issuer,
        options={"require": ["exp", "iat", "nbf", "jti", "sub", "nonce", "acr", "at_hash"]},
    )
    assert claims["nonce"] == params["nonce"]
    assert claims["acr"] == VERIFIED
    assert claims["ial"] == 2
    assert claims["aal"] == 1
    assert claims["email"] == "bob@example.gov"
    assert claims["email_verified"] is True
    assert claims["at_hash"] == half_hash(body["access_token"])
    assert claims["c_hash"] == half_hash(code)
    assert claims["exp"] - claims["iat"] == 900
    assert re.fullmatch(r"[0-9a-f-]{36}", claims["sub"])

    info = requests.get(
        idp.endpoint("/api/openid_connect/userinfo"),
        headers={"Authorization": "Bearer " + body["access_token"]},
        timeout=5,
    )
    assert info.status_code == 200
    user = info.json()
    assert user["sub"] == claims["sub"]
    assert user["iss"] == idp.issuer
    assert user["email"] == "bob@example.gov"
    assert user["email_verified"] is True
    assert user["ial"] == 2
    assert user["aal"] == 1
    assert isinstance(user["verified_at"], int)
    assert user["given_name"] == "Bob"


def test_auth_only_and_any_email_give_stable_pairwise_subjects(idp: Idp, browser: Browser) -> None:
    def sub_for(**form: str) -> dict[str, Any]:
        params = idp.authorize_params()
        page = browser.authorize(params)
        assert "urn:acr.login.gov:verified" not in page.text  # not offered when not asked
        code = browser.sign_in(params, **form)["code"][0]
        body = idp.token(code, params["_verifier"]).json()
        return jwt.decode(body["id_token"], options={"verify_signature": False})

    first = sub_for(user="other", email="dana@example.com")
    again = sub_for(user="other", email="Dana@example.com")
    alice = sub_for(user="alice@example.gov")
    assert first["email"] == "dana@example.com"
    assert first["acr"] == AUTH_ONLY
    assert first["ial"] == 1
    assert first["sub"] == again["sub"]
    assert alice["sub"] != first["sub"]


def test_verified_request_may_answer_auth_only(idp: Idp, browser: Browser) -> None:
    params = idp.authorize_params(acr_values=VERIFIED)
    code = browser.sign_in(params, level=AUTH_ONLY)["code"][0]
    body = idp.token(code, params["_verifier"]).json()
    claims = jwt.decode(body["id_token"], options={"verify_signature": False})
    assert claims["acr"] == AUTH_ONLY
    assert claims["ial"] == 1


def test_pkce_is_optional_like_login_gov(idp: Idp, browser: Browser) -> None:
    code, _ = signed_in_code(idp, browser, code_challenge=None, code_challenge_method=None)
    assert idp.token(code, None).status_code == 200


def test_cancel_returns_access_denied(idp: Idp, browser: Browser) -> None:
    params = idp.authorize_params()
    page = browser.authorize(params)
    answer = browser.submit(page, idp.endpoint("/openid_connect/authorize"), action="cancel")
    assert answer.status_code == 303
    query = parse_qs(urlsplit(answer.headers["Location"]).query)
    assert query == {"error": ["access_denied"], "state": [params["state"]]}


def test_form_problems_show_the_page_again(idp: Idp, browser: Browser) -> None:
    params = idp.authorize_params()
    page = browser.authorize(params)
    url = idp.endpoint("/openid_connect/authorize")
    answer = browser.submit(page, url, user="other", email="not an email", action="approve")
    assert answer.status_code == 400
    assert 'role="alert"' in answer.text
    answer = browser.submit(page, url, user="mallory@example.gov", action="approve")
    assert answer.status_code == 400
    answer = browser.submit(page, url, level=VERIFIED, action="approve")  # not offered
    assert answer.status_code == 400


def test_authorization_form_needs_the_csrf_token(idp: Idp, browser: Browser) -> None:
    params = idp.authorize_params()
    page = browser.authorize(params)
    form = {n: html.unescape(v) for n, v in _HIDDEN.findall(page.text) if n != "csrf_token"}
    answer = browser.session.post(
        idp.endpoint("/openid_connect/authorize"),
        data={**form, "user": "alice@example.gov", "action": "approve"},
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers


# -- authorization request rules ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"client_id": "urn:gov:gsa:openidconnect.profiles:sp:sso:test:other"}, "client_id"),
        ({"client_id": None}, "client_id"),
        ({"redirect_uri": "http://127.0.0.1:1/auth/callback"}, "redirect_uri"),
        ({"redirect_uri": "REDIRECT/"}, "redirect_uri"),
        ({"redirect_uri": None}, "redirect_uri"),
    ],
)
def test_bad_client_or_redirect_uri_shows_an_error_page(
    idp: Idp, browser: Browser, overrides: dict[str, str | None], words: str
) -> None:
    if overrides.get("redirect_uri") == "REDIRECT/":
        overrides = {"redirect_uri": idp.redirect_uri + "/"}
    answer = browser.authorize(idp.authorize_params(**overrides))
    assert_error_page(answer, words)
    assert "Development identity provider — not login.gov" in html.unescape(answer.text)


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"state": "s" * 21}, "State"),
        ({"nonce": "n" * 21}, "Nonce"),
        ({"nonce": None}, "Nonce"),
        ({"acr_values": None}, "service level"),
        ({"acr_values": "http://idmanagement.gov/ns/assurance/aal/2"}, "service level"),
        ({"response_type": "token"}, "Response type"),
        ({"scope": "email profile"}, "openid"),
        ({"code_challenge_method": "plain"}, "S256"),
        ({"code_challenge_method": None}, "S256"),
        ({"code_challenge": None}, "Code challenge"),
        ({"code_challenge": "short"}, "Code challenge"),
        ({"prompt": "none"}, "Prompt"),
    ],
)
def test_invalid_requests_go_back_with_invalid_request(
    idp: Idp, browser: Browser, overrides: dict[str, str | None], words: str
) -> None:
    params = idp.authorize_params(**overrides)
    assert_invalid_request(browser.authorize(params), params["state"], words)


def test_missing_state_goes_back_without_state(idp: Idp, browser: Browser) -> None:
    assert_invalid_request(browser.authorize(idp.authorize_params(state=None)), None, "State")


# -- token endpoint rules -------------------------------------------------------------------


def test_wrong_or_missing_code_verifier_is_refused(idp: Idp, browser: Browser) -> None:
    code, _ = signed_in_code(idp, browser)
    answer = idp.token(code, secrets.token_urlsafe(48))
    assert answer.status_code == 400
    assert "code_verifier" in answer.json()["error"]
    code, _ = signed_in_code(idp, browser)
    answer = idp.token(code, None)
    assert answer.status_code == 400
    assert "code_verifier" in answer.json()["error"]


def test_code_is_single_use_and_reuse_revokes_its_tokens(idp: Idp, browser: Browser) -> None:
    code, verifier = signed_in_code(idp, browser)
    first = idp.token(code, verifier)
    assert first.status_code == 200
    again = idp.token(code, verifier)
    assert again.status_code == 400
    assert again.json() == {"error": "code has already been used"}
    info = requests.get(
        idp.endpoint("/api/openid_connect/userinfo"),
        headers={"Authorization": "Bearer " + first.json()["access_token"]},
        timeout=5,
    )
    assert info.status_code == 401


def test_unknown_code_is_refused(idp: Idp) -> None:
    answer = idp.token(secrets.token_urlsafe(32), None)
    assert answer.status_code == 400
    assert answer.json() == {"error": "code is invalid"}


def test_code_expires_after_five_minutes(idp: Idp, browser: Browser) -> None:
    code, verifier = signed_in_code(idp, browser)
    later = time.time() + 301
    idp.provider.clock = lambda: later
    answer = idp.token(code, verifier)
    assert answer.status_code == 400
    assert answer.json() == {"error": "code has expired"}


def test_code_is_fine_just_under_five_minutes(idp: Idp, browser: Browser) -> None:
    start = time.time()
    idp.provider.clock = lambda: start
    code, verifier = signed_in_code(idp, browser)
    idp.provider.clock = lambda: start + 299
    # The assertion is signed with the real time; the provider's clock only moved 299 s.
    assert idp.token(code, verifier).status_code == 200


@pytest.mark.parametrize(
    ("claims", "words"),
    [
        ({"aud": "ISSUER"}, "aud must be the token endpoint"),
        ({"aud": None}, "aud must be the token endpoint"),
        ({"exp": int(time.time()) - 120}, "expired"),
        ({"exp": None}, "exp is missing"),
        ({"iat": int(time.time()) + 600}, "iat is in the future"),
        ({"sub": "urn:gov:gsa:openidconnect.profiles:sp:sso:test:other"}, "sub must equal iss"),
        ({"iss": "urn:other", "sub": "urn:other"}, "iss is not a registered client_id"),
        ({"jti": None}, "jti is missing"),
        ({"key": "OTHER"}, "signature does not match"),
        ({"key": "secret-secret-secret-secret-secret", "algorithm": "HS256"}, "RS256"),
    ],
)
def test_bad_client_assertions_are_refused(
    idp: Idp, browser: Browser, claims: dict[str, Any], words: str
) -> None:
    code, verifier = signed_in_code(idp, browser)
    if claims.get("aud") == "ISSUER":
        claims = {"aud": idp.issuer}
    if claims.get("key") == "OTHER":
        claims = {"key": rsa.generate_private_key(public_exponent=65537, key_size=2048)}
    answer = idp.token(code, verifier, client_assertion=idp.assertion(**claims))
    assert answer.status_code == 400
    assert words in answer.json()["error"]
    # A refused assertion does not burn the code: a good one still works.
    assert idp.token(code, verifier).status_code == 200


def test_assertion_jti_cannot_be_replayed(idp: Idp, browser: Browser) -> None:
    assertion = idp.assertion()
    code, verifier = signed_in_code(idp, browser)
    assert idp.token(code, verifier, client_assertion=assertion).status_code == 200
    code, verifier = signed_in_code(idp, browser)
    answer = idp.token(code, verifier, client_assertion=assertion)
    assert answer.status_code == 400
    assert "jti has already been used" in answer.json()["error"]


@pytest.mark.parametrize(
    ("form", "words"),
    [
        ({"grant_type": "refresh_token"}, "grant_type"),
        ({"client_assertion_type": "urn:other"}, "client_assertion_type"),
        ({"client_assertion": ""}, "client_assertion is missing"),
        ({"client_assertion": "not-a-jwt"}, "not a JWT"),
        ({"code": ""}, "code is missing"),
    ],
)
def test_malformed_token_requests_are_refused(
    idp: Idp, browser: Browser, form: dict[str, str], words: str
) -> None:
    code, verifier = signed_in_code(idp, browser)
    answer = idp.token(code, verifier, **form)
    assert answer.status_code == 400
    assert words in answer.json()["error"]


def test_token_endpoint_wants_post(idp: Idp) -> None:
    answer = requests.get(idp.token_endpoint, timeout=5)
    assert answer.status_code == 405
    assert "error" in answer.json()


# -- userinfo ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer " + "x" * 43, "Basic dXNlcjpwYXNz"],
)
def test_userinfo_refuses_missing_or_unknown_tokens(idp: Idp, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    answer = requests.get(idp.endpoint("/api/openid_connect/userinfo"), headers=headers, timeout=5)
    assert answer.status_code == 401
    assert answer.json()["error"]
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_userinfo_wants_the_header_and_tokens_expire(idp: Idp, browser: Browser) -> None:
    code, verifier = signed_in_code(idp, browser)
    access_token = idp.token(code, verifier).json()["access_token"]
    url = idp.endpoint("/api/openid_connect/userinfo")
    in_query = requests.get(url, params={"access_token": access_token}, timeout=5)
    assert in_query.status_code == 401
    later = time.time() + 3601
    idp.provider.clock = lambda: later
    expired = requests.get(url, headers={"Authorization": f"Bearer {access_token}"}, timeout=5)
    assert expired.status_code == 401
    assert "expired" in expired.json()["error"]


# -- logout -----------------------------------------------------------------------------------


def logout_params(idp: Idp, **overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "client_id": CLIENT_ID,
        "post_logout_redirect_uri": idp.post_logout_redirect_uri,
        "state": secrets.token_urlsafe(24),
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def test_logout_confirms_then_returns_with_state(idp: Idp, browser: Browser) -> None:
    params = logout_params(idp)
    page = browser.get(idp.endpoint("/openid_connect/logout"), params)
    assert page.status_code == 200
    assert "Yes, sign out" in page.text
    assert "Development identity provider — not login.gov" in html.unescape(page.text)
    answer = browser.submit(page, idp.endpoint("/openid_connect/logout"))
    assert answer.status_code == 303
    assert answer.headers["Location"] == (
        idp.post_logout_redirect_uri + "?" + urlencode({"state": params["state"]})
    )


def test_logout_confirmation_needs_the_csrf_token(idp: Idp, browser: Browser) -> None:
    answer = browser.session.post(
        idp.endpoint("/openid_connect/logout"),
        data=logout_params(idp),
        allow_redirects=False,
        timeout=5,
    )
    assert answer.status_code == 400
    assert "Location" not in answer.headers


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"client_id": "urn:other"}, "client_id"),
        ({"client_id": None}, "client_id"),
        ({"post_logout_redirect_uri": "http://127.0.0.1:1/auth/signed-out"}, "not registered"),
        ({"post_logout_redirect_uri": None}, "not registered"),
        ({"state": "s" * 21}, "state must be at least 22"),
        ({"state": None}, "state must be at least 22"),
        ({"id_token_hint": "eyJhbGciOiJSUzI1NiJ9.e30.sig"}, "id_token_hint"),
    ],
)
def test_logout_refusals_show_an_error_page(
    idp: Idp, browser: Browser, overrides: dict[str, str | None], words: str
) -> None:
    answer = browser.get(idp.endpoint("/openid_connect/logout"), logout_params(idp, **overrides))
    assert_error_page(answer, words)


# -- the home page ----------------------------------------------------------------------------


def test_home_page_lists_the_test_users(idp: Idp) -> None:
    page = requests.get(idp.endpoint("/"), timeout=5)
    assert page.status_code == 200
    assert "alice@example.gov" in page.text
    assert idp.issuer in page.text


# -- loading ----------------------------------------------------------------------------------


def _devidp_settings(data_dir: Path) -> dict[str, str]:
    return _devidp_app_settings("http://localhost:6543", data_dir)


def test_signing_key_persists_across_restarts(make_app: Callable[..., Any], tmp_path: Path) -> None:
    data_dir = tmp_path / "new" / "dir"
    first = get_provider(make_app(**_devidp_settings(data_dir)).registry)
    key_file = data_dir / "devidp-signing-key.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    second = get_provider(make_app(**_devidp_settings(data_dir)).registry)
    assert first.jwks() == second.jwks()
    assert first.subject_for("alice@example.gov") == second.subject_for("alice@example.gov")
    other = get_provider(make_app(**_devidp_settings(tmp_path / "other")).registry)
    assert other.jwks() != first.jwks()
    assert other.subject_for("alice@example.gov") != first.subject_for("alice@example.gov")


def test_id_token_from_before_a_restart_still_verifies(
    start_idp: Callable[..., Idp], make_app: Callable[..., Any], tmp_path: Path
) -> None:
    idp = start_idp()
    with requests.Session() as session:
        code, verifier = signed_in_code(idp, Browser(idp, session))
    id_token = idp.token(code, verifier).json()["id_token"]
    restarted_app = make_app(**_devidp_app_settings(idp.url, tmp_path / "devidp"))
    restarted = get_provider(restarted_app.registry)
    (entry,) = restarted.jwks()["keys"]
    claims = jwt.decode(id_token, jwt.PyJWK(entry), algorithms=["RS256"], audience=CLIENT_ID)
    assert claims["iss"] == idp.issuer


def test_refuses_to_load_in_production(make_app: Callable[..., Any], tmp_path: Path) -> None:
    url = "https://apply.example.gov"
    with pytest.raises(SettingsError, match="loginsite.environment = development"):
        make_app(
            **{
                "loginsite.environment": "production",
                "loginsite.session.secure": "true",
                "loginsite.public_url": url,
                "loginsite.idp.issuer": url + "/_devidp/",
                "loginsite.idp.allow_http": "false",
                "pyramid.includes": "loginsite.devidp",
                "loginsite.devidp.data_dir": str(tmp_path),
            }
        )
    assert not (tmp_path / "devidp-signing-key.pem").exists()


def test_refuses_to_load_without_a_data_dir(make_app: Callable[..., Any], tmp_path: Path) -> None:
    settings = _devidp_settings(tmp_path)
    del settings["loginsite.devidp.data_dir"]
    with pytest.raises(SettingsError, match="loginsite.devidp.data_dir"):
        make_app(**settings)


@pytest.mark.parametrize(
    "issuer",
    [
        "http://localhost:6543/_devidp",  # no trailing slash
        "http://127.0.0.1:6543/_devidp/",
        "https://idp.int.identitysandbox.gov/",
    ],
)
def test_refuses_to_load_with_another_issuer(
    make_app: Callable[..., Any], tmp_path: Path, issuer: str
) -> None:
    settings = {**_devidp_settings(tmp_path), "loginsite.idp.issuer": issuer}
    with pytest.raises(
        SettingsError,
        match=re.escape("served at http://localhost:6543/_devidp/ (loginsite.public_url"),
    ):
        make_app(**settings)


# -- the app's own client, unchanged, against the provider ----------------------------------


def test_the_app_signs_in_and_out_through_the_provider(idp: Idp, browser: Browser) -> None:
    start = browser.get(idp.url + "/auth/login", {"next": "/account"})
    assert start.status_code == 303
    authorize_url = start.headers["Location"]
    assert authorize_url.startswith(idp.endpoint("/openid_connect/authorize?"))
    query = {k: v[0] for k, v in parse_qs(urlsplit(authorize_url).query).items()}
    assert query["code_challenge_method"] == "S256"

    page = browser.authorize(query)
    back = browser.submit(
        page,
        idp.endpoint("/openid_connect/authorize"),
        user="chen@example.gov",
        action="approve",
    )
    assert back.status_code == 303
    callback = browser.get(back.headers["Location"])
    assert callback.status_code == 303, callback.text
    assert callback.headers["Location"] == idp.url + "/account"
    account = browser.get(idp.url + "/account")
    assert account.status_code == 200
    assert "chen@example.gov" in account.text

    signed_out = browser.submit(account, idp.url + "/auth/logout")
    assert signed_out.status_code == 303
    logout_url = signed_out.headers["Location"]
    assert logout_url.startswith(idp.endpoint("/openid_connect/logout?"))
    confirm = browser.get(logout_url)
    done = browser.submit(confirm, idp.endpoint("/openid_connect/logout"))
    assert done.status_code == 303
    assert done.headers["Location"].startswith(idp.post_logout_redirect_uri + "?state=")
    assert browser.get(done.headers["Location"]).status_code == 200
    assert browser.get(idp.url + "/account").status_code != 200
