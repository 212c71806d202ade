"""The /auth views end to end: the app's real client against a provider over real HTTP.

WebTest plays the browser on the app's side; ``requests`` follows the redirect to the test
provider (served by waitress on 127.0.0.1), which checks the client the way login.gov does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
import pytest
import requests
import webtest
from pyramid.interfaces import ISecurityPolicy

from loginsite.settings import ACR_AUTH_ONLY as ACR
from loginsite.settings import ACR_VERIFIED
from tests.plugins.live_server import LiveServer
from tests.plugins.oidc_provider import REMOVE, BlackHole, TestProvider

PUBLIC_URL = "https://app.example.test"
SESSION_COOKIE = "__Host-loginsite"
TXN_COOKIE = "__Host-loginsite_signin"


@pytest.fixture
def make_rp(
    make_app: Callable[..., Any], test_provider: TestProvider, tmp_path: Path
) -> Callable[..., webtest.TestApp]:
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(test_provider.client_private_key_pem)
    apps: dict[str, Any] = {}

    def make(**overrides: str) -> webtest.TestApp:
        if "app" not in apps or overrides:
            apps["app"] = make_app(
                **{
                    "loginsite.public_url": PUBLIC_URL,
                    "loginsite.session.secure": "true",
                    "loginsite.idp.issuer": test_provider.issuer,
                    "loginsite.idp.client_id": test_provider.client_id,
                    "loginsite.idp.private_key": str(key_file),
                    "loginsite.idp.timeout": "1",
                    **overrides,
                }
            )
        return webtest.TestApp(
            apps["app"],
            extra_environ={"wsgi.url_scheme": "https", "HTTP_HOST": "app.example.test"},
        )

    return make


@pytest.fixture
def rp(make_rp: Callable[..., webtest.TestApp]) -> webtest.TestApp:
    return make_rp()


def start(rp: webtest.TestApp, query: str = "next=/account") -> webtest.TestResponse:
    response = rp.get(f"/auth/login?{query}", status=303)
    return response


def sign_in(
    rp: webtest.TestApp, provider: TestProvider, query: str = "next=/account", **expect: Any
) -> webtest.TestResponse:
    params = provider.authorize(start(rp, query).location)
    return rp.get("/auth/callback", params=params, **expect)


def session_cookies(response: webtest.TestResponse) -> list[str]:
    return [c for c in response.headers.getall("Set-Cookie") if c.startswith(SESSION_COOKIE + "=")]


def assert_no_session(rp: webtest.TestApp, response: webtest.TestResponse) -> None:
    assert not any(not c.startswith(SESSION_COOKIE + "=;") for c in session_cookies(response))
    assert rp.get("/account", status=303).location.startswith(PUBLIC_URL + "/auth/login")


# The positive path


def test_sign_in_end_to_end(
    rp: webtest.TestApp, test_provider: TestProvider, caplog: pytest.LogCaptureFixture
) -> None:
    login = start(rp, "next=/account")
    url = urlsplit(login.location)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == test_provider.url("authorize")
    assert query["response_type"] == "code"
    assert query["client_id"] == test_provider.client_id
    assert query["redirect_uri"] == PUBLIC_URL + "/auth/callback"
    assert query["scope"] == "openid email"
    assert query["acr_values"] == "urn:acr.login.gov:auth-only"
    assert query["prompt"] == "select_account"
    assert query["code_challenge_method"] == "S256"
    assert len(query["state"]) >= 22
    assert len(query["nonce"]) >= 22
    assert query["locale"] == "en"  # the page's language
    (txn_cookie,) = [c for c in login.headers.getall("Set-Cookie") if c.startswith(TXN_COOKIE)]
    for attribute in ("HttpOnly", "SameSite=Lax", "secure", "Path=/", "Max-Age=600"):
        assert attribute.lower() in txn_cookie.lower()
    assert login.headers["Referrer-Policy"] == "no-referrer"

    params = test_provider.authorize(login.location)
    with caplog.at_level(logging.INFO, logger="loginsite"):
        callback = rp.get("/auth/callback", params=params, status=303)
    assert callback.location == PUBLIC_URL + "/account"
    assert callback.headers["Cache-Control"] == "no-store"
    (cookie,) = session_cookies(callback)
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    assert any(
        c.startswith(TXN_COOKIE + "=;") or "Max-Age=0" in c
        for c in callback.headers.getall("Set-Cookie")
        if c.startswith(TXN_COOKIE)
    )
    assert test_provider.endpoints_called() == [
        "discovery",
        "authorize",
        "token",
        "jwks",
        "userinfo",
    ]
    signed_in = [r.getMessage() for r in caplog.records if "auth.signed_in" in r.getMessage()]
    assert signed_in
    assert test_provider.sub in signed_in[0]
    assert test_provider.email not in caplog.text
    assert params["code"] not in caplog.text

    page = rp.get("/account")
    assert test_provider.email in page.text
    assert test_provider.sub in page.text


def test_two_tabs_sign_in_at_once(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    first = test_provider.authorize(start(rp, "next=/account").location)
    second = test_provider.authorize(start(rp, "next=/").location)
    assert rp.get("/auth/callback", params=second, status=303).location == PUBLIC_URL + "/"
    assert rp.get("/auth/callback", params=first, status=303).location == PUBLIC_URL + "/account"


def _set_cookies(response: requests.Response) -> dict[str, str]:
    """What a browser keeps from one answer: name -> value (an empty value deletes)."""
    kept: dict[str, str] = {}
    for cookie in response.raw.headers.getlist("Set-Cookie"):
        name, _, rest = cookie.partition("=")
        kept[name] = rest.split(";", 1)[0]
    return kept


def test_two_tabs_racing_both_complete(live_rp: LiveServer, test_provider: TestProvider) -> None:
    """Issue 16.6: both tabs start with the same cookies (neither saw the other's answer)."""
    jar: dict[str, str] = {}

    def begin(next_path: str) -> requests.Response:
        return requests.get(
            live_rp.url + "/auth/login?next=" + next_path,
            cookies=dict(jar),
            allow_redirects=False,
            timeout=5,
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        tab_a, tab_b = pool.map(begin, ["/account", "/"])
    for answer in (tab_b, tab_a):  # whichever Set-Cookie lands last, nothing is overwritten
        jar.update(_set_cookies(answer))
    assert len([name for name in jar if name.startswith("loginsite_signin_")]) == 2
    done = {}
    for name, tab in (("a", tab_a), ("b", tab_b)):
        params = test_provider.authorize(tab.headers["Location"])
        done[name] = requests.get(
            live_rp.url + "/auth/callback?" + urlencode(params),
            cookies={k: v for k, v in jar.items() if v},
            allow_redirects=False,
            timeout=5,
        )
        jar.update(_set_cookies(done[name]))
    assert done["a"].headers["Location"] == PUBLIC_URL + "/account"
    assert done["b"].headers["Location"] == PUBLIC_URL + "/"
    assert not any(v for k, v in jar.items() if k.startswith("loginsite_signin_"))  # all cleared


def test_five_sign_ins_with_long_next_paths_all_complete(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    """All five promised transactions fit, each in its own small cookie, with 500-byte next."""
    paths = [f"/account?{i}=" + "x" * 500 for i in range(5)]
    started = [test_provider.authorize(start(rp, "next=" + path).location) for path in paths]
    sizes = [len(k) + len(v) for k, v in rp.cookies.items() if k.startswith(TXN_COOKIE)]
    assert len(sizes) == 5
    assert max(sizes) < 1500  # well under a browser's 4096 bytes per cookie
    for path, params in reversed(list(zip(paths, started, strict=True))):
        assert rp.get("/auth/callback", params=params, status=303).location == PUBLIC_URL + path
    assert not [k for k in rp.cookies if k.startswith(TXN_COOKIE)]


def test_a_sixth_pending_sign_in_drops_the_oldest(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    started = [test_provider.authorize(start(rp).location)]
    time.sleep(1.1)  # transactions are timed in whole seconds: make the first one the oldest
    started += [test_provider.authorize(start(rp).location) for _ in range(5)]
    assert len([k for k in rp.cookies if k.startswith(TXN_COOKIE)]) == 5
    rp.get("/auth/callback", params=started[0], status=400)  # the oldest is gone
    for params in started[1:]:
        rp.get("/auth/callback", params=params, status=303)


def _forge_transaction(rp: webtest.TestApp, **claims: Any) -> dict[str, str]:
    """Start a sign-in, then re-sign its transaction with the app's own keys and ``claims``."""
    from loginsite.auth.views import FLOW_KEY

    flow = rp.app.registry[FLOW_KEY]
    params_url = start(rp).location
    state = parse_qs(urlsplit(params_url).query)["state"][0]
    name = flow.transactions.name_for(state)
    (txn,) = flow.jar.pending(rp.cookies[name])
    payload = {
        "iss": "loginsite",
        "aud": "loginsite:login-transaction",
        "iat": txn.created_at,
        "exp": txn.created_at + 600,
        "txns": [{**txn.to_claim(), **claims}],
    }
    kid, secret = flow.jar._keys[0]
    forged = jwt.encode(
        payload, secret, algorithm="HS256", headers={"kid": kid, "typ": flow.jar.TYP}
    )
    rp.set_cookie(name, forged)
    return {"url": params_url}


@pytest.mark.parametrize(
    "next_path", ["@evil.example", "/a\r\nSet-Cookie: x=1", "/\u00e9", "/\ud800"]
)
def test_a_self_signed_next_is_sanitized_at_the_callback(
    rp: webtest.TestApp, test_provider: TestProvider, next_path: str
) -> None:
    """Issue 16.9a: one leaked key must not become an open redirect or a 500."""
    forged = _forge_transaction(rp, p=next_path)
    params = test_provider.authorize(forged["url"])
    response = rp.get("/auth/callback", params=params, status=303)
    assert response.location == PUBLIC_URL + "/account"


@pytest.mark.parametrize("field", ["s", "n", "v", "l"])
def test_a_lone_surrogate_in_a_self_signed_transaction_is_a_400(
    rp: webtest.TestApp, test_provider: TestProvider, field: str
) -> None:
    """Issue 16.9b: a malformed value in a self-signed transaction never causes a 500."""
    forged = _forge_transaction(rp, **{field: "\ud800" * 43})
    params = test_provider.authorize(forged["url"])
    response = rp.get("/auth/callback", params=params, status=400)
    assert "This sign-in has expired" in response.text
    assert "token" not in test_provider.endpoints_called()


def test_a_session_cookie_from_before_sign_in_is_not_reused(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    first = test_provider.authorize(start(rp).location)
    second = test_provider.authorize(start(rp).location)
    rp.get("/auth/callback", params=first, status=303)
    before = rp.cookies[SESSION_COOKIE]
    rp.get("/auth/callback", params=second, status=303)
    after = rp.cookies[SESSION_COOKIE]
    assert before != after
    rp.set_cookie(SESSION_COOKIE, before)
    assert rp.get("/account", status=303)  # the replaced session was revoked


def test_signed_in_user_visiting_login_goes_straight_to_next(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    sign_in(rp, test_provider, status=303)
    calls = len(test_provider.calls)
    assert rp.get("/auth/login?next=/", status=303).location == PUBLIC_URL + "/"
    assert len(test_provider.calls) == calls


def test_login_gov_is_asked_for_the_language_of_the_pages(rp: webtest.TestApp) -> None:
    """Issue 13: the negotiated language goes to login.gov as ``locale``; ``?locale=`` no
    longer overrides it (the pages and login.gov speak one language)."""

    def sent(query: str = "next=/account", **headers: str) -> list[str]:
        location = rp.get(f"/auth/login?{query}", headers=headers, status=303).location
        return parse_qs(urlsplit(location).query)["locale"]

    assert sent() == ["en"]
    assert sent(**{"Accept-Language": "es-MX,es;q=0.9,en;q=0.5"}) == ["es"]
    assert sent("next=/account&locale=es") == ["en"]
    rp.get("/language?lang=es&next=/", status=303)  # the switch's cookie beats the header
    assert sent(**{"Accept-Language": "en"}) == ["es"]
    assert sent("next=/account&locale=en") == ["es"]


def test_the_idp_locale_setting_does_not_override_a_language_login_gov_speaks(
    make_rp: Callable[..., webtest.TestApp],
) -> None:
    """``loginsite.idp.locale`` is not sent when the page's language is one login.gov speaks."""
    rp = make_rp(**{"loginsite.idp.locale": "fr"})
    location = rp.get("/auth/login", headers={"Accept-Language": "es"}, status=303).location
    assert parse_qs(urlsplit(location).query)["locale"] == ["es"]


@pytest.mark.parametrize(
    "next_value",
    ["//evil.example", "/\\evil.example", "https://evil.example/", "/%2F%2Fevil.example", " //x"],
)
def test_open_redirects_in_next_fall_back_to_account(
    rp: webtest.TestApp, test_provider: TestProvider, next_value: str
) -> None:
    from urllib.parse import quote

    response = sign_in(rp, test_provider, f"next={quote(next_value)}", status=303)
    assert response.location == PUBLIC_URL + "/account"


# The callback refuses


def test_cancelled_at_the_provider(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    """A neutral notice: nothing failed, so no error status, no "Error 400", no reference."""
    test_provider.authorize_error = "access_denied"
    response = sign_in(rp, test_provider, status=200)
    main = response.html.find("main")
    assert main.find("h1").text == "You cancelled signing in"
    assert main.find(class_="usa-alert--info") is not None
    assert "Error" not in main.get_text()
    assert "reference" not in main.get_text()
    # Signing in again goes back to where this sign-in was going.
    assert main.find("a", class_="login-button")["href"] == "/auth/login?next=%2Faccount"
    assert "token" not in test_provider.endpoints_called()
    assert_no_session(rp, response)


def signed_in_at_the_basic_level(rp: webtest.TestApp, provider: TestProvider) -> None:
    sign_in(rp, provider, status=303)
    assert "Authenticated (no identity verification)" in rp.get("/account").text


STEP_UP = "next=/account/verified&level=verified"
RETRY_STEP_UP = "/auth/login?next=%2Faccount%2Fverified&level=verified"


def test_a_cancelled_step_up_keeps_the_basic_session_and_retries_the_step_up(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    signed_in_at_the_basic_level(rp, test_provider)
    test_provider.authorize_error = "access_denied"
    response = sign_in(rp, test_provider, STEP_UP, status=200)
    main = response.html.find("main")
    assert main.find("h1").text == "You did not verify your identity"
    text = main.get_text(" ", strip=True)
    assert "the identity-verified level was not granted" in text
    assert "You are still signed in, at the basic level" in text
    assert "not signed in" not in text
    assert main.find("a", string="Try verifying your identity again")["href"] == RETRY_STEP_UP
    assert response.html.find("header", class_="usa-header").find("button", string="Sign out")
    assert rp.get("/account").status_int == 200  # still signed in
    rp.get("/account/verified", status=303)  # and still not verified


def test_a_failed_step_up_says_the_level_was_not_granted(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    signed_in_at_the_basic_level(rp, test_provider)
    test_provider.authorize_error = "server_error"
    response = sign_in(rp, test_provider, STEP_UP, status=400)
    main = response.html.find("main")
    assert main.find("h1").text == "Your identity was not verified"
    assert "You are still signed in, at the basic level" in main.get_text(" ", strip=True)
    assert main.find("a", string="Try verifying your identity again")["href"] == RETRY_STEP_UP
    assert "reference" in main.get_text()
    assert rp.get("/account").status_int == 200


def test_a_failed_sign_in_retries_for_the_same_page_and_level(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    """Not signed in at all: the error page, whose retry keeps the page and the level."""
    test_provider.authorize_error = "server_error"
    response = sign_in(rp, test_provider, STEP_UP, status=400)
    assert "We could not sign you in" in response.text
    main = response.html.find("main")
    assert main.find("a", string="Try signing in again")["href"] == RETRY_STEP_UP


def test_other_provider_errors_are_a_generic_page(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    test_provider.authorize_error = "invalid_request"
    response = sign_in(rp, test_provider, status=400)
    assert "We could not sign you in" in response.text
    assert "token" not in test_provider.endpoints_called()


def test_callback_without_state(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    params = test_provider.authorize(start(rp).location)
    del params["state"]
    response = rp.get("/auth/callback", params=params, status=400)
    assert "This sign-in has expired" in response.text
    assert "token" not in test_provider.endpoints_called()


def test_callback_with_unknown_state(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    params = test_provider.authorize(start(rp).location)
    params["state"] = "x" * 43
    rp.get("/auth/callback", params=params, status=400)
    assert "token" not in test_provider.endpoints_called()


@pytest.fixture
def live_rp(
    make_app: Callable[..., Any],
    live_server: Callable[[], LiveServer],
    test_provider: TestProvider,
    tmp_path: Path,
) -> LiveServer:
    """The app over real HTTP (waitress), against the test provider, with plain cookies.

    The public URL stays the one registered with the test provider; the browser talks to the
    server directly, so cookies are not Secure here.
    """
    key_file = tmp_path / "client.pem"
    key_file.write_bytes(test_provider.client_private_key_pem)
    app = make_app(
        **{
            "loginsite.public_url": PUBLIC_URL,
            "loginsite.idp.issuer": test_provider.issuer,
            "loginsite.idp.client_id": test_provider.client_id,
            "loginsite.idp.private_key": str(key_file),
            "loginsite.idp.timeout": "2",
        }
    )
    return live_server().start(app)


def _callback_query(params: dict[str, str], extra: list[tuple[str, str]]) -> str:
    return urlencode([*params.items(), *extra])


@pytest.mark.parametrize(
    "repeat",
    [
        "the same state twice",
        "another state",
        "the same code twice",
        "another code",
        "an empty state",
        "iss",
        "error",
    ],
)
def test_callback_with_a_repeated_parameter_is_refused_before_anything_else(
    live_rp: LiveServer,
    test_provider: TestProvider,
    repeat: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """RFC 6749 3.1: a 400, the transaction burnt, and the token endpoint never called."""
    browser = requests.Session()
    login = browser.get(live_rp.url + "/auth/login?next=/account", allow_redirects=False, timeout=5)
    assert login.status_code == 303
    params = test_provider.authorize(login.headers["Location"])
    extra = {
        "the same state twice": [("state", params["state"])],
        "another state": [("state", "s" * 43)],
        "the same code twice": [("code", params["code"])],
        "another code": [("code", "c" * 43)],
        "an empty state": [("state", "")],
        "iss": [("iss", test_provider.issuer), ("iss", test_provider.issuer)],
        "error": [("error", "access_denied"), ("error", "access_denied")],
    }[repeat]
    refused = browser.get(
        live_rp.url + "/auth/callback?" + _callback_query(params, extra),
        allow_redirects=False,
        timeout=5,
    )
    assert refused.status_code == 400
    assert "This sign-in address is not valid" in refused.text
    assert "reason=repeated_parameter" in caplog.text
    # The genuine callback, once, no longer matches anything: the transaction is gone.
    again = browser.get(
        live_rp.url + "/auth/callback?" + urlencode(params), allow_redirects=False, timeout=5
    )
    assert again.status_code == 400
    assert "This sign-in has expired" in again.text
    assert "token" not in test_provider.endpoints_called()
    assert (
        browser.get(live_rp.url + "/account", allow_redirects=False, timeout=5).status_code == 303
    )


def test_a_sign_in_over_real_http_completes(
    live_rp: LiveServer, test_provider: TestProvider
) -> None:
    """The control for the test above: the same browser and callback, unrepeated, sign in."""
    browser = requests.Session()
    login = browser.get(live_rp.url + "/auth/login?next=/account", allow_redirects=False, timeout=5)
    params = test_provider.authorize(login.headers["Location"])
    done = browser.get(
        live_rp.url + "/auth/callback?" + urlencode(params), allow_redirects=False, timeout=5
    )
    assert done.status_code == 303
    assert done.headers["Location"] == PUBLIC_URL + "/account"
    assert (
        browser.get(live_rp.url + "/account", allow_redirects=False, timeout=5).status_code == 200
    )


def test_replayed_callback_is_refused(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    params = test_provider.authorize(start(rp).location)
    rp.get("/auth/callback", params=params, status=303)
    rp.reset()
    rp.get("/auth/callback", params=params, status=400)
    assert test_provider.endpoints_called().count("token") == 1


def test_callback_in_another_browser_is_refused(
    rp: webtest.TestApp, make_rp: Callable[..., webtest.TestApp], test_provider: TestProvider
) -> None:
    params = test_provider.authorize(start(rp).location)
    other_browser = make_rp()
    response = other_browser.get("/auth/callback", params=params, status=400)
    assert "token" not in test_provider.endpoints_called()
    assert_no_session(other_browser, response)


def test_transaction_is_consumed_even_when_sign_in_fails(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    test_provider.id_token_claims = {"nonce": "n" * 43}
    params = test_provider.authorize(start(rp).location)
    rp.get("/auth/callback", params=params, status=400)
    test_provider.id_token_claims = {}
    rp.get("/auth/callback", params=params, status=400)
    assert test_provider.endpoints_called().count("token") == 1


def _expired(provider: TestProvider) -> None:
    provider.id_token_claims = {"exp": 1_000_000_000, "iat": 999_999_000, "nbf": 999_999_000}


ID_TOKEN_BENDS: dict[str, Callable[[TestProvider], None]] = {
    "alg none": lambda p: setattr(p, "id_token_factory", lambda c, h: p.sign(c, alg="none")),
    "HS256": lambda p: setattr(p, "id_token_alg", "HS256"),
    "mixed-case alg": lambda p: setattr(p, "id_token_headers", {"alg": "rs256"}),
    "foreign issuer": lambda p: setattr(p, "id_token_claims", {"iss": "https://evil.example/"}),
    "foreign audience": lambda p: setattr(p, "id_token_claims", {"aud": "someone-else"}),
    "expired": _expired,
    "missing exp": lambda p: setattr(p, "id_token_claims", {"exp": REMOVE}),
    "missing iat": lambda p: setattr(p, "id_token_claims", {"iat": REMOVE}),
    "empty sub": lambda p: setattr(p, "id_token_claims", {"sub": ""}),
    "nonce mismatch": lambda p: setattr(p, "id_token_claims", {"nonce": "n" * 43}),
    "missing nonce": lambda p: setattr(p, "id_token_claims", {"nonce": REMOVE}),
    "acr not asked for": lambda p: setattr(p, "id_token_claims", {"acr": ACR_VERIFIED}),
    "foreign azp": lambda p: setattr(p, "id_token_claims", {"azp": "someone-else"}),
    "unknown crit": lambda p: setattr(p, "id_token_headers", {"crit": ["x-custom"]}),
    "jku header": lambda p: setattr(p, "id_token_headers", {"jku": "https://evil.example/j"}),
}


@pytest.mark.parametrize("bend", sorted(ID_TOKEN_BENDS))
def test_bad_id_tokens_are_refused_and_nothing_is_called_after(
    rp: webtest.TestApp, test_provider: TestProvider, bend: str
) -> None:
    ID_TOKEN_BENDS[bend](test_provider)
    response = sign_in(rp, test_provider, status=400)
    assert "We could not sign you in" in response.text
    assert "userinfo" not in test_provider.endpoints_called()
    assert_no_session(rp, response)


def test_tampered_id_token_signature(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    def tamper(claims: dict[str, Any], header: dict[str, Any]) -> str:
        token = test_provider.sign(claims, header=header)
        head, body, signature = token.split(".")
        return f"{head}.{body}.{signature[:-4]}AAAA"

    test_provider.id_token_factory = tamper
    response = sign_in(rp, test_provider, status=400)
    assert "userinfo" not in test_provider.endpoints_called()
    assert_no_session(rp, response)


def test_key_rotation_is_accepted(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    sign_in(rp, test_provider, status=303)
    test_provider.rotate_keys(keep_old=False)
    rp.reset()
    sign_in(rp, test_provider, status=303)
    assert test_provider.endpoints_called().count("jwks") == 2


def test_userinfo_sub_mismatch(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    test_provider.userinfo_overrides = {"sub": "someone-else"}
    response = sign_in(rp, test_provider, status=502)
    assert "login.gov" in response.text.lower()
    assert_no_session(rp, response)


@pytest.mark.parametrize(
    "bend",
    ["a userinfo sub that differs", "a 1 MB id_token", "a token answer without id_token"],
)
def test_a_refused_provider_answer_has_its_own_page(
    rp: webtest.TestApp,
    test_provider: TestProvider,
    caplog: pytest.LogCaptureFixture,
    bend: str,
) -> None:
    """Issue 16.3: login.gov was available and its answer was refused: 502, not "not available"."""
    if bend == "a userinfo sub that differs":
        test_provider.userinfo_overrides = {"sub": "someone-else"}
    elif bend == "a 1 MB id_token":
        test_provider.id_token_factory = lambda claims, header: "e" * (1024 * 1024)
    else:
        test_provider.token_overrides["id_token"] = REMOVE
    response = sign_in(rp, test_provider, status=502)
    assert "did not pass our checks" in response.text
    assert "not available" not in response.text
    assert "category=answer_refused" in caplog.text
    assert_no_session(rp, response)


@pytest.mark.parametrize(
    ("endpoint", "status", "expected"),
    [("token", 500, 502), ("userinfo", 503, 502), ("token", 200, 504)],
)
def test_an_outage_still_says_not_available(
    rp: webtest.TestApp, test_provider: TestProvider, endpoint: str, status: int, expected: int
) -> None:
    if expected == 504:
        test_provider.stall(endpoint)
    else:
        test_provider.respond(endpoint, status=status, body={"error": "down"})
    response = sign_in(rp, test_provider, status=expected)
    assert "Login.gov is not available right now" in response.text
    assert "did not pass our checks" not in response.text


def test_userinfo_refused(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    test_provider.respond("userinfo", status=401, body={"error": "Invalid bearer token."})
    response = sign_in(rp, test_provider, status=400)
    assert_no_session(rp, response)


def test_token_endpoint_refusal_is_logged_with_the_providers_reason(
    rp: webtest.TestApp, test_provider: TestProvider, caplog: pytest.LogCaptureFixture
) -> None:
    test_provider.respond("token", status=400, body={"error": "Code has expired"})
    with caplog.at_level(logging.INFO, logger="loginsite"):
        response = sign_in(rp, test_provider, status=400)
    assert "We could not sign you in" in response.text
    assert "Code has expired" in caplog.text
    assert "userinfo" not in test_provider.endpoints_called()
    assert_no_session(rp, response)


@pytest.mark.parametrize(
    ("status", "body", "content_type", "expected"),
    [
        (500, "oops", "text/plain", 502),
        (200, "<html>maintenance</html>", "text/html", 502),
        (200, "{not json", "application/json", 502),
    ],
)
def test_token_endpoint_failures(
    rp: webtest.TestApp,
    test_provider: TestProvider,
    status: int,
    body: str,
    content_type: str,
    expected: int,
) -> None:
    test_provider.respond("token", status=status, body=body, content_type=content_type)
    response = sign_in(rp, test_provider, status=expected)
    assert "Login.gov is not available right now" in response.text
    assert "Traceback" not in response.text
    assert_no_session(rp, response)


def test_slow_token_endpoint_times_out(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    test_provider.stall("token")
    response = sign_in(rp, test_provider, status=504)
    assert "taking too long" in response.text
    assert_no_session(rp, response)


def test_provider_down_at_sign_in_is_a_503_page(
    make_rp: Callable[..., webtest.TestApp], closed_port_url: str
) -> None:
    rp = make_rp(**{"loginsite.idp.issuer": closed_port_url + "/"})
    response = rp.get("/auth/login?next=/account", status=503)
    assert "Login.gov is not available right now" in response.text
    assert not any(c.startswith(TXN_COOKIE) for c in response.headers.getall("Set-Cookie"))


def test_discovery_issuer_mismatch_refuses_to_start_sign_in(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    test_provider.discovery_overrides = {"issuer": "https://evil.example/"}
    rp.get("/auth/login?next=/account", status=503)
    assert "authorize" not in test_provider.endpoints_called()


def test_signed_in_users_are_unaffected_by_a_provider_outage(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    sign_in(rp, test_provider, status=303)
    test_provider.respond("discovery", status=500, body="down")
    test_provider.respond("jwks", status=500, body="down")
    assert test_provider.email in rp.get("/account").text


# Sign out


def test_the_logged_session_id_is_the_one_loginsite_revoke_takes(
    rp: webtest.TestApp, test_provider: TestProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """loginsite-revoke --jti points operators at session_id= in these events: it must be
    the session's real id, in the form the script accepts, and ending it must end the session."""
    import re

    from loginsite.revocation import get_revocation_store
    from loginsite.scripts.revoke import checked_session_id

    with caplog.at_level(logging.INFO, logger="loginsite"):
        sign_in(rp, test_provider, status=303)
    (line,) = [r.getMessage() for r in caplog.records if "auth.signed_in" in r.getMessage()]
    session_id = re.search(r"session_id=(\S+)", line).group(1)
    assert checked_session_id(session_id) == session_id
    assert rp.get("/account").status_int == 200
    store = get_revocation_store(rp.app.registry)
    store.revoke_session(session_id, expires_at=2**31)
    assert rp.get("/account", status=303)


def test_sign_out_requires_a_csrf_token(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    sign_in(rp, test_provider, status=303)
    response = rp.post("/auth/logout", status=400)
    assert "This form has expired" in response.text
    assert rp.get("/account").status_int == 200


def test_cross_site_sign_out_does_nothing(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    sign_in(rp, test_provider, status=303)
    token = rp.get("/account").html.find("input", attrs={"name": "csrf_token"})["value"]
    rp.post(
        "/auth/logout",
        {"csrf_token": token},
        headers={"Origin": "https://evil.example", "Referer": "https://evil.example/"},
        status=400,
    )
    assert rp.get("/account").status_int == 200


def test_get_does_not_sign_out(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    sign_in(rp, test_provider, status=303)
    page = rp.get("/auth/logout")
    assert page.html.find("form", action="/auth/logout") is not None
    assert rp.get("/account").status_int == 200


def test_sign_out_ends_the_session_and_goes_to_the_provider(
    rp: webtest.TestApp, test_provider: TestProvider
) -> None:
    sign_in(rp, test_provider, status=303)
    copied = rp.cookies[SESSION_COOKIE]
    form = rp.get("/account").forms[0]
    response = form.submit(status=303)
    url = urlsplit(response.location)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert f"{url.scheme}://{url.netloc}{url.path}" == test_provider.url("logout")
    assert query["client_id"] == test_provider.client_id
    assert query["post_logout_redirect_uri"] == PUBLIC_URL + "/auth/signed-out"
    assert len(query["state"]) >= 22
    assert "id_token_hint" not in query
    assert session_cookies(response)[0].startswith(SESSION_COOKIE + "=;")

    signed_out = rp.get("/auth/signed-out", params={"state": query["state"]})
    assert "You have signed out" in signed_out.text
    rp.get("/account", status=303)

    # The replay: a copy of the cookie taken before sign-out is dead too.
    rp.set_cookie(SESSION_COOKIE, copied)
    rp.get("/account", status=303)


def test_sign_out_everywhere_ends_every_session_of_the_user(
    rp: webtest.TestApp, make_rp: Callable[..., webtest.TestApp], test_provider: TestProvider
) -> None:
    sign_in(rp, test_provider, status=303)
    laptop = make_rp()
    sign_in(laptop, test_provider, status=303)
    account = rp.get("/account")
    everywhere = next(f for f in account.forms.values() if "everywhere" in f.fields)
    everywhere.submit(status=303)
    laptop.get("/account", status=303)
    rp.get("/account", status=303)


# Assurance levels


def test_step_up_to_identity_verified(rp: webtest.TestApp, test_provider: TestProvider) -> None:
    sign_in(rp, test_provider, status=303)
    old = rp.cookies[SESSION_COOKIE]
    step_up = rp.get("/account/verified", status=303)
    assert step_up.location == PUBLIC_URL + "/auth/login?next=%2Faccount%2Fverified&level=verified"
    login = rp.get(step_up.location, status=303)
    assert parse_qs(urlsplit(login.location).query)["acr_values"] == [ACR_VERIFIED]
    params = test_provider.authorize(login.location)
    done = rp.get("/auth/callback", params=params, status=303)
    assert done.location == PUBLIC_URL + "/account/verified"
    assert "Identity-verified area" in rp.get("/account/verified").text
    rp.set_cookie(SESSION_COOKIE, old)
    rp.get("/account", status=303)  # the auth-only session it replaced is over


# Provider slowness must not starve signed-in users (issue 16.5)


def test_a_black_holed_provider_does_not_starve_signed_in_users(
    live_server: Callable[[], LiveServer], make_app: Callable[..., Any], black_hole: BlackHole
) -> None:
    """16 sign-ins wait on a provider that never answers; /account keeps answering at once."""
    server = live_server()
    app = make_app(
        **{
            "loginsite.public_url": server.url,
            "loginsite.idp.issuer": black_hole.url + "/",
            "loginsite.idp.timeout": "2",
        }
    )
    server.start(app)
    policy = app.registry.getUtility(ISecurityPolicy)
    cookie, _ = policy.codec.mint("6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11", email=None, acr=ACR)
    signed_in = {policy.cookie_name: cookie}

    def login() -> requests.Response:
        return requests.get(
            server.url + "/auth/login?next=/account", allow_redirects=False, timeout=20
        )

    with ThreadPoolExecutor(max_workers=16) as pool:
        logins = [pool.submit(login) for _ in range(16)]
        time.sleep(0.3)  # the sign-ins have arrived; some of them wait on the provider
        for _ in range(5):
            started = time.monotonic()
            page = requests.get(server.url + "/account", cookies=signed_in, timeout=5)
            assert page.status_code == 200
            assert time.monotonic() - started < 0.5
        statuses = sorted(future.result().status_code for future in logins)

    assert set(statuses) <= {503, 504}, statuses
    assert 504 in statuses  # the one fetch that reached the provider timed out...
    assert len(black_hole.connections) == 1  # ...and it was the only one (single flight)
    # The failure is remembered: the next sign-in answers "not available" at once.
    started = time.monotonic()
    again = login()
    assert again.status_code == 504
    assert time.monotonic() - started < 0.5
    assert "Login.gov is not available right now" in again.text
    assert len(black_hole.connections) == 1


def test_an_identity_too_large_for_a_cookie_is_refused_at_the_callback(
    rp: webtest.TestApp, test_provider: TestProvider, caplog: pytest.LogCaptureFixture
) -> None:
    """No cookie the next request would refuse (a sign-in loop), and never a 500."""
    test_provider.email = "a" * 3700 + "@example.test"
    with caplog.at_level(logging.INFO, logger="loginsite"):
        response = sign_in(rp, test_provider, status=502)
    assert "Your account details are too long for this site" in response.text
    assert session_cookies(response) == []
    (txn,) = [c for c in response.headers.getall("Set-Cookie") if c.startswith(TXN_COOKIE)]
    assert "Max-Age=0" in txn
    assert "auth.callback_failed reason=identity too large" in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert_no_session(rp, response)
