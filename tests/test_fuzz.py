"""Property-based fuzzing of the request surface: whatever a client sends, no 5xx, no hang.

Hypothesis draws requests to every route: methods, paths, query strings (raw bytes included),
headers, cookies, form bodies, and tokens signed with the app's own keys whose claims are
fuzzed (session tokens and sign-in transactions), the "one leaked key" case of issue 16. The
app answers over WebTest in-process, with its development provider served over real HTTP so
that sign-in calls really reach a provider. Each request must answer below 500, within
``REQUEST_BOUND`` seconds.

CI runs the ``ci`` profile (tests/conftest.py): derandomized, so every run draws the same
requests, and a small budget. Before a release, run a long campaign::

    .venv/bin/pytest tests/test_fuzz.py -p no:cacheprovider --hypothesis-profile=release
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

import pytest
import webtest
from hypothesis import given
from hypothesis import strategies as st

from loginsite import main
from loginsite.auth.cookies import transaction_keys
from loginsite.session.token import AUDIENCE, ISSUER, TOKEN_TYPE
from loginsite.settings import get_app_settings
from tests.conftest import CLIENT_ID
from tests.plugins.live_server import LiveServer
from tests.plugins.session_keys import SECRET_1, SECRET_2

#: Seconds one request may take. Generous (two shared cores); a quadratic parser or a wait on
#: the provider without a deadline takes far longer.
REQUEST_BOUND = 3.0

ROUTES = [
    "/",
    "/account",
    "/account/",
    "/account/verified",
    "/auth/login",
    "/auth/callback",
    "/auth/logout",
    "/auth/signed-out",
    "/language",
    "/static/site.css",
    "/static/nothing-here",
    "/api/security-events",
    "/_devidp/",
    "/_devidp/.well-known/openid-configuration",
    "/_devidp/api/openid_connect/certs",
    "/_devidp/openid_connect/authorize",
    "/_devidp/api/openid_connect/token",
    "/_devidp/api/openid_connect/userinfo",
    "/_devidp/openid_connect/logout",
]
PARAMETERS = [
    "next",
    "level",
    "locale",
    "lang",
    "state",
    "code",
    "error",
    "error_description",
    "iss",
    "client_id",
    "redirect_uri",
    "response_type",
    "scope",
    "nonce",
    "acr_values",
    "prompt",
    "code_challenge",
    "code_challenge_method",
    "post_logout_redirect_uri",
    "grant_type",
    "client_assertion",
    "client_assertion_type",
    "code_verifier",
    "csrf_token",
    "everywhere",
    "user",
    "action",
]
HEADERS = [
    "HTTP_HOST",
    "HTTP_X_FORWARDED_HOST",
    "HTTP_X_FORWARDED_PROTO",
    "HTTP_X_FORWARDED_FOR",
    "HTTP_ORIGIN",
    "HTTP_REFERER",
    "HTTP_ACCEPT",
    "HTTP_ACCEPT_LANGUAGE",
    "HTTP_AUTHORIZATION",
    "HTTP_X_REQUEST_ID",
    "HTTP_EXPECT",
    "HTTP_IF_NONE_MATCH",
    "HTTP_RANGE",
    "CONTENT_TYPE",
]
COOKIE_NAMES = [
    "loginsite",
    "loginsite_signout",
    "csrf",
    "loginsite_signin_",
    "lang",
    "session",
    "x",
]


# -- the app -----------------------------------------------------------------------------------


class Site:
    """The app under test, its own keys, and how to send it one request."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.client = webtest.TestApp(app)
        settings = get_app_settings(app.registry)
        self.session_key = settings.session.keys[0]
        self.transaction_key = transaction_keys(settings.session)[0]

    def send(self, method: str, path: str, query: str, environ: dict[str, str], body: bytes) -> Any:
        """One request as a client could send it; asserts it answers below 500, in time."""
        request = webtest.TestRequest.blank(
            quote_from_bytes(path.encode("utf-8", "surrogatepass"), safe="/%"),
            environ={"HTTP_HOST": "localhost", **environ, "REQUEST_METHOD": method},
        )
        request.environ["QUERY_STRING"] = query
        if body or method == "POST":
            request.body = body
        started = time.monotonic()
        response = request.get_response(self.app)
        elapsed = time.monotonic() - started
        assert response.status_int < 500, (
            f"{method} {path!r}?{query[:200]!r} answered {response.status}: {response.text[:300]}"
        )
        assert elapsed < REQUEST_BOUND, f"{method} {path!r} took {elapsed:.2f} s"
        return response


@pytest.fixture(scope="module")
def site(client_key_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    """The real app with its development provider, served on a free port (sign-in calls the
    provider over HTTP) and driven in-process by the tests."""
    server = LiveServer()
    app = main(
        {},
        **{
            "loginsite.environment": "development",
            "loginsite.public_url": server.url,
            "loginsite.session.keys": f"k2:{SECRET_1} k1:{SECRET_2}:verify",
            "loginsite.session.secure": "false",
            "loginsite.revocation.store": "memory",
            "loginsite.idp.client_id": CLIENT_ID,
            "loginsite.idp.private_key": str(client_key_file),
            "loginsite.idp.allow_http": "true",
            "loginsite.idp.timeout": "1",
            "pyramid.includes": "loginsite.devidp",
            "loginsite.devidp.data_dir": str(tmp_path_factory.mktemp("fuzz-devidp")),
        },
    )
    server.start(app)
    try:
        yield Site(app)
    finally:
        server.stop()


# -- strategies ----------------------------------------------------------------------------------

#: Text as a client can send it: any code point (lone surrogates included), or raw bytes.
any_text = st.one_of(
    st.text(max_size=40),
    st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
    st.sampled_from(["", "%", "%ff", "\\", '"', "\r\n", "//evil.example", "/\\evil", "@x"]),
)
json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(2**70), max_value=2**70),
        st.sampled_from([10**400, -(10**400), 0, 2**31, 2**63]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.text(max_size=30),
    ),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=8,
)


def _percent(text: str) -> str:
    return quote_from_bytes(text.encode("utf-8", "surrogatepass"), safe="")


@st.composite
def query_strings(draw: Any) -> str:
    """Well-formed pairs of known and unknown names, repeated names, or raw bytes."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=120)).decode("latin-1")
    names = st.sampled_from(PARAMETERS) | st.text(max_size=10)
    pairs = draw(st.lists(st.tuples(names, any_text), max_size=6))
    return "&".join(f"{_percent(k)}={_percent(v)}" for k, v in pairs)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def sign_hs256(header: Any, payload: Any, kid_secret: tuple[str, bytes]) -> str:
    """A JWS signed with one of the app's own keys, whatever the header and payload hold."""
    head = _b64(json.dumps(header).encode())
    body = _b64(json.dumps(payload).encode())
    mac = hmac.new(kid_secret[1], f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(mac)}"


def fuzzed(draw: Any, valid: dict[str, Any]) -> dict[str, Any]:
    """``valid`` with up to two entries replaced by any JSON value or dropped, and maybe an
    extra one: mostly-valid tokens reach every rule, one broken claim at a time."""
    result = dict(valid)
    for name in draw(st.lists(st.sampled_from(sorted(valid)), max_size=2, unique=True)):
        if draw(st.booleans()):
            result[name] = draw(json_values)
        else:
            del result[name]
    if draw(st.integers(0, 4)) == 0:
        result.update(draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)))
    return result


@st.composite
def session_tokens(draw: Any, site: Site) -> str:
    """A session token signed with the app's key: its header or its claims fuzzed, or neither."""
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": draw(st.sampled_from(["~" + "A" * 22, "6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11"])),
        "iat": now,
        "exp": now + 900,
        "jti": "Zr9W1Yk3pQ-x_8tUv2mN4a",
        "sit": now,
        "dl": now + 43200,
        "acr": draw(st.sampled_from(["a", "v", "~x", "=y"])),
        "email": "alice@example.gov",
    }
    header = {"alg": "HS256", "kid": site.session_key.kid, "typ": TOKEN_TYPE}
    layer = draw(st.sampled_from(["header", "claims", "claims", "none"]))
    return sign_hs256(
        fuzzed(draw, header) if layer == "header" else header,
        fuzzed(draw, claims) if layer == "claims" else claims,
        (site.session_key.kid, site.session_key.secret),
    )


@st.composite
def transactions(draw: Any, site: Site) -> tuple[str, str, str]:
    """(cookie name, a transaction cookie signed with the app's key, the callback's state):
    its header, its envelope or the transaction itself fuzzed, or none of them."""
    now = int(time.time())
    layer = draw(st.sampled_from(["header", "envelope", "transaction", "transaction", "none"]))
    state = "S_-" * 10
    if layer == "transaction" and draw(st.booleans()):
        state = draw(st.text(min_size=1, max_size=50))  # a lone surrogate, say
    claim = {
        "s": state,
        "n": "n" * 43,
        "v": "v" * 43,
        "p": draw(st.sampled_from(["/account", "//evil.example", "/\\x", "/ok?x=1"]) | any_text),
        "a": ["urn:acr.login.gov:auth-only"],
        "t": now,
        "l": draw(st.sampled_from([None, "en"])),
    }
    payload = {
        "iss": "loginsite",
        "aud": "loginsite:login-transaction",
        "iat": now,
        "exp": now + 600,
        "txns": [fuzzed(draw, claim) if layer == "transaction" else claim],
    }
    kid, secret = site.transaction_key
    header = {"alg": "HS256", "kid": kid, "typ": "loginsite-login-txn+jwt"}
    value = sign_hs256(
        fuzzed(draw, header) if layer == "header" else header,
        fuzzed(draw, payload) if layer == "envelope" else payload,
        (kid, secret),
    )
    digest = hashlib.sha256(state.encode("utf-8", "surrogatepass")).digest()
    name = "loginsite_signin_" + base64.urlsafe_b64encode(digest[:9]).decode("ascii")
    return name, value, state


@st.composite
def cookie_headers(draw: Any) -> str:
    names = st.sampled_from(COOKIE_NAMES) | st.text(max_size=8)
    values = any_text | st.integers(0, 9000).map(lambda n: "a" * n)
    pairs = draw(st.lists(st.tuples(names, values), max_size=5))
    separator = draw(st.sampled_from(["; ", ";", ", ", " ;"]))
    header = separator.join(f"{n}={v}" for n, v in pairs)
    return header.encode("utf-8", "surrogatepass").decode("latin-1")


header_values = any_text.map(
    lambda t: t.encode("utf-8", "surrogatepass").decode("latin-1")
) | st.integers(0, 12000).map(lambda n: "b" * n)
methods = st.sampled_from(["GET", "POST", "HEAD"]) | st.sampled_from(
    ["PUT", "DELETE", "TRACE", "OPTIONS", "PATCH", "CONNECT", "get", "X"]
)
paths = st.sampled_from(ROUTES) | st.sampled_from(ROUTES).flatmap(
    lambda route: any_text.map(lambda tail: route + tail)
)
content_types = st.sampled_from(
    [
        "application/x-www-form-urlencoded",
        "application/x-www-form-urlencoded; charset=bogus",
        "application/x-www-form-urlencoded; charset=utf-16",
        "multipart/form-data",
        "multipart/form-data; boundary=x",
        "multipart/form-data; boundary=",
        "application/secevent+jwt",
        "application/json",
        "text/plain",
        "",
    ]
)


# -- the properties ------------------------------------------------------------------------------


@given(
    method=methods,
    path=paths,
    query=query_strings(),
    headers=st.dictionaries(st.sampled_from(HEADERS), header_values, max_size=4),
    cookie=st.none() | cookie_headers(),
)
def test_any_request_line_headers_and_cookies(
    site: Site, method: str, path: str, query: str, headers: dict[str, str], cookie: str | None
) -> None:
    environ = dict(headers)
    if cookie is not None:
        environ["HTTP_COOKIE"] = cookie
    site.send(method, path, query, environ, b"")


@given(
    path=st.sampled_from(ROUTES),
    query=query_strings(),
    content_type=content_types,
    body=st.one_of(
        st.binary(max_size=300),
        query_strings().map(lambda q: q.encode("latin-1", "replace")),
        st.just(b'--x\r\nContent-Disposition: form-data; name="a"\r\n\r\n1\r\n--x--\r\n'),
    ),
    with_csrf=st.booleans(),
)
def test_any_form_to_any_route(
    site: Site, path: str, query: str, content_type: str, body: bytes, with_csrf: bool
) -> None:
    environ = {"CONTENT_TYPE": content_type}
    if with_csrf:  # past the CSRF check, into the views
        environ["HTTP_COOKIE"] = "csrf=fuzz-csrf-token"
        separator = b"&" if body else b""
        body = body + separator + b"csrf_token=fuzz-csrf-token"
    site.send("POST", path, query, environ, body)


@given(
    data=st.data(),
    path=st.sampled_from(
        ["/", "/account", "/account/verified", "/auth/login", "/auth/signed-out", "/auth/logout"]
    ),
)
def test_session_tokens_signed_with_the_apps_key_and_fuzzed_claims(
    site: Site, data: st.DataObject, path: str
) -> None:
    token = data.draw(session_tokens(site))
    cookie = f"loginsite={token}; csrf=fuzz-csrf-token"
    site.send("GET", path, data.draw(query_strings()), {"HTTP_COOKIE": cookie}, b"")
    site.send(
        "POST",
        "/auth/logout",
        "",
        {"HTTP_COOKIE": cookie, "CONTENT_TYPE": "application/x-www-form-urlencoded"},
        b"csrf_token=fuzz-csrf-token&everywhere=" + data.draw(st.sampled_from([b"1", b"0", b""])),
    )


@given(data=st.data())
def test_transactions_signed_with_the_apps_key_and_fuzzed_claims(
    site: Site, data: st.DataObject
) -> None:
    name, value, state = data.draw(transactions(site))
    query = f"state={_percent(state)}&code={_percent(data.draw(any_text))}"
    if data.draw(st.booleans()):
        query += f"&iss={_percent(data.draw(any_text))}"
    site.send("GET", "/auth/callback", query, {"HTTP_COOKIE": f"{name}={value}"}, b"")
