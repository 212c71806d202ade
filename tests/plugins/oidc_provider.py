"""A bendable OpenID provider that behaves like login.gov, served over real HTTP for tests.

It runs as a plain WSGI app under waitress on 127.0.0.1 (a free port per pytest worker) and
checks what login.gov checks: the ``private_key_jwt`` client assertion, PKCE S256, single-use
codes, the bearer token at userinfo. So the happy path proves the client sends all of it right.

Each test gets a fresh :class:`TestProvider` through the ``test_provider`` fixture and bends it:

- ``respond(endpoint, status=..., body=..., content_type=...)``: answer an endpoint with anything
  (500, HTML, garbage); ``stall(endpoint)``: never answer until the test ends (for timeouts).
- ``discovery_overrides``, ``id_token_claims``, ``id_token_headers``, ``token_overrides``,
  ``userinfo_overrides``: dicts merged into what is served; a value of ``REMOVE`` drops the key.
- ``id_token_alg`` / ``id_token_key`` / ``id_token_factory``: sign id_tokens differently.
- ``rotate_keys(keep_old=...)``, ``extra_jwks``: change what the JWKS publishes.
- ``authorize_error`` and ``send_iss``: shape the redirect back to the client.
- ``calls`` / ``calls_to(endpoint)``: every request received, to assert what was (not) called.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import pytest
import requests
import waitress
import webob
import webob.dec
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from waitress import wasyncore

from loginsite.oidc import CLIENT_ASSERTION_TYPE, ClientConfig, LoginTransaction, OIDCClient

REMOVE = object()
CLIENT_ID = "urn:gov:gsa:openidconnect.profiles:sp:sso:test:loginsite"
REDIRECT_URI = "https://app.example.test/auth/callback"
POST_LOGOUT_REDIRECT_URI = "https://app.example.test/auth/signed-out"
ACR_AUTH_ONLY = "urn:acr.login.gov:auth-only"
STALL_LIMIT = 10.0  # a stalled handler gives up after this, even if the test forgot it

PATHS = {
    "/.well-known/openid-configuration": "discovery",
    "/openid_connect/authorize": "authorize",
    "/api/openid_connect/token": "token",
    "/api/openid_connect/userinfo": "userinfo",
    "/api/openid_connect/certs": "jwks",
    "/openid_connect/logout": "logout",
}
ENDPOINT_PATHS = {name: path for path, name in PATHS.items()}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def s256(verifier: str) -> str:
    return b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def merge(base: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overrides.items():
        if value is REMOVE:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def make_jws(header: dict[str, Any], claims: Any, *, signing_alg: str, key: Any) -> str:
    """A compact JWS whose header says whatever the test wants, signed by ``signing_alg``.

    Built by hand so tests can forge what PyJWT would refuse to produce: ``alg: none``,
    HS256 keyed with an RSA public key's PEM bytes, a header alg in odd letter case.
    """
    signing_input = (
        b64url(json.dumps(header, separators=(",", ":")).encode())
        + "."
        + b64url(json.dumps(claims, separators=(",", ":")).encode())
    ).encode("ascii")
    signer = signing_alg.upper()
    if signer == "NONE":
        signature = b""
    elif signer == "HS256":
        signature = hmac.new(key, signing_input, hashlib.sha256).digest()
    elif signer == "RS256":
        signature = key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        raise ValueError(f"test provider cannot sign with {signing_alg}")
    return signing_input.decode("ascii") + "." + b64url(signature)


def public_jwk(kid: str, key: rsa.RSAPrivateKey) -> dict[str, Any]:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": "RS256", "use": "sig"}


@dataclass
class Call:
    """One request the provider received."""

    endpoint: str
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    headers: dict[str, str]


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    stall: bool = False
    #: seconds between single bytes of the body (0: send it at once)
    trickle: float = 0.0


@dataclass
class CodeGrant:
    nonce: str
    code_challenge: str
    redirect_uri: str
    acr: str
    used: bool = False


@dataclass
class KeyPool:
    """RSA keys made once per test session (2048-bit keys are slow to generate)."""

    client: rsa.RSAPrivateKey
    provider: list[rsa.RSAPrivateKey]


class TestProvider:
    """One test's provider: its state, its bends and its record of calls."""

    __test__ = False  # not a test class, despite the name

    def __init__(self, base_url: str, pool: KeyPool) -> None:
        self.base_url = base_url
        self.issuer = base_url + "/"  # login.gov's issuer ends with a slash
        self.client_id = CLIENT_ID
        self.redirect_uri = REDIRECT_URI
        self.client_key = pool.client
        self.client_private_key_pem = pool.client.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._pool = list(pool.provider)
        prefix = secrets.token_hex(4)
        self._next_kid = 0
        self._kid_prefix = prefix
        first = self._new_kid()
        self.signing_keys: dict[str, rsa.RSAPrivateKey] = {first: self._pool[0]}
        self.active_kid = first
        self.extra_jwks: list[Any] = []

        self.calls: list[Call] = []
        self.canned: dict[str, Canned] = {}
        self.released = threading.Event()

        self.discovery_overrides: dict[str, Any] = {}
        self.id_token_claims: dict[str, Any] = {}
        self.id_token_headers: dict[str, Any] = {}
        self.id_token_alg = "RS256"
        self.id_token_key: Any = None
        self.id_token_factory: Callable[[dict[str, Any], dict[str, Any]], str] | None = None
        self.token_overrides: dict[str, Any] = {}
        self.userinfo_overrides: dict[str, Any] = {}
        self.authorize_error: str | None = None
        self.send_iss = False

        self.sub = "5e1f2a3b-aaaa-4bbb-8ccc-0123456789ab"
        self.email = "person@example.test"
        self.codes: dict[str, CodeGrant] = {}
        self.access_tokens: dict[str, str] = {}
        self.seen_assertion_jtis: set[str] = set()
        self.last_id_token: str | None = None
        self._lock = threading.Lock()

    # -- helpers for tests ------------------------------------------------------------

    def url(self, endpoint: str) -> str:
        return self.base_url + ENDPOINT_PATHS[endpoint]

    def calls_to(self, endpoint: str) -> list[Call]:
        return [c for c in self.calls if c.endpoint == endpoint]

    def endpoints_called(self) -> list[str]:
        return [c.endpoint for c in self.calls]

    def respond(
        self,
        endpoint: str,
        *,
        status: int = 200,
        body: bytes | str | dict[str, Any] = b"",
        content_type: str = "application/json",
    ) -> None:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        self.canned[endpoint] = Canned(status, body, content_type)

    def trickle(self, endpoint: str, body: bytes, interval: float) -> None:
        """Answer 200 at once, then send ``body`` one byte every ``interval`` seconds."""
        self.canned[endpoint] = Canned(body=body, trickle=interval)

    def stall(self, endpoint: str) -> None:
        """Accept the request but do not answer until the test ends."""
        self.canned[endpoint] = Canned(stall=True)

    def restore(self, endpoint: str) -> None:
        self.canned.pop(endpoint, None)

    def _new_kid(self) -> str:
        self._next_kid += 1
        return f"{self._kid_prefix}-{self._next_kid}"

    def rotate_keys(self, *, keep_old: bool = True) -> str:
        """Sign with the next key of the pool from now on; publish the old one too if asked."""
        index = len(self.signing_keys) % len(self._pool)
        if not keep_old:
            index = (self._pool.index(self.signing_keys[self.active_kid]) + 1) % len(self._pool)
            self.signing_keys = {}
        kid = self._new_kid()
        self.signing_keys[kid] = self._pool[index]
        self.active_kid = kid
        return kid

    @property
    def active_key(self) -> rsa.RSAPrivateKey:
        return self.signing_keys[self.active_kid]

    def public_pem(self, kid: str | None = None) -> bytes:
        key = self.signing_keys[kid or self.active_kid]
        return key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def client_config(self, **overrides: Any) -> ClientConfig:
        values: dict[str, Any] = {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "private_key_pem": self.client_private_key_pem,
            "redirect_uri": REDIRECT_URI,
            "post_logout_redirect_uri": POST_LOGOUT_REDIRECT_URI,
            "scope": ("openid", "email"),
            "acr_values": (ACR_AUTH_ONLY,),
            "prompt": "select_account",
            "locale": None,
            "timeout": 2.0,
            "metadata_ttl": 3600,
            "leeway": 30,
            "allow_http": True,
        }
        values.update(overrides)
        return ClientConfig(**values)

    def client(
        self, *, clock: Callable[[], float] | None = None, **config_overrides: Any
    ) -> OIDCClient:
        config = self.client_config(**config_overrides)
        if clock is None:
            return OIDCClient(config)
        return OIDCClient(config, clock=clock)

    def authorize(self, authorization_url: str) -> dict[str, str]:
        """Play the browser: follow the authorization URL, return the callback's query."""
        response = requests.get(authorization_url, allow_redirects=False, timeout=5)
        assert response.status_code == 302, response.text
        location = response.headers["Location"]
        assert location.startswith(REDIRECT_URI + "?"), location
        return dict(parse_qsl(urlsplit(location).query))

    def sign_in(
        self, client: OIDCClient, **begin_kwargs: Any
    ) -> tuple[LoginTransaction, dict[str, str]]:
        """begin() + the browser round trip: the transaction and the callback parameters."""
        begin_kwargs.setdefault("next_path", "/account")
        transaction, url = client.begin(**begin_kwargs)
        return transaction, self.authorize(url)

    def sign(
        self,
        claims: Any,
        *,
        header: dict[str, Any] | None = None,
        alg: str = "RS256",
        key: Any = None,
        signing_alg: str | None = None,
    ) -> str:
        """Sign anything: ``alg`` goes in the header, ``signing_alg`` (default alg) signs."""
        full_header = merge({"alg": alg, "kid": self.active_kid, "typ": "JWT"}, header or {})
        signer = signing_alg or alg
        if key is None:
            key = self.active_key if signer.upper() == "RS256" else b"not-a-real-secret"
        return make_jws(full_header, claims, signing_alg=signer, key=key)

    def standard_id_token_claims(self, grant: CodeGrant, access_token: str) -> dict[str, Any]:
        now = int(time.time())
        return {
            "iss": self.issuer,
            "sub": self.sub,
            "aud": self.client_id,
            "acr": grant.acr,
            "nonce": grant.nonce,
            "jti": secrets.token_urlsafe(16),
            "at_hash": b64url(hashlib.sha256(access_token.encode()).digest()[:16]),
            "exp": now + 900,
            "iat": now,
            "nbf": now,
            "email": self.email,
            "email_verified": True,
            "ial": "1",
            "aal": "2",
        }

    # -- the WSGI side ----------------------------------------------------------------------

    def handle(self, request: webob.Request) -> webob.Response:
        endpoint = PATHS.get(request.path, "unknown")
        form = dict(request.POST.items()) if request.method == "POST" else {}
        self.calls.append(
            Call(
                endpoint=endpoint,
                method=request.method,
                path=request.path,
                query=dict(request.GET.items()),
                form=form,
                headers=dict(request.headers.items()),
            )
        )
        canned = self.canned.get(endpoint)
        if canned is not None:
            if canned.stall:
                self.released.wait(STALL_LIMIT)
                return webob.Response(status=503)
            if canned.trickle:
                return webob.Response(
                    status=canned.status,
                    app_iter=self._trickled(canned.body, canned.trickle),
                    content_type=canned.content_type,
                    content_length=len(canned.body),
                )
            return webob.Response(
                status=canned.status, body=canned.body, content_type=canned.content_type
            )
        handler = getattr(self, f"_{endpoint}", None)
        if handler is None:
            return webob.Response(status=404, body=b"not found", content_type="text/plain")
        return handler(request, form)

    def _trickled(self, body: bytes, interval: float) -> Any:
        started = time.monotonic()
        for index in range(len(body)):
            if self.released.is_set() or time.monotonic() - started > STALL_LIMIT:
                return  # the test is over: stop
            yield body[index : index + 1]
            self.released.wait(interval)

    @staticmethod
    def _json(document: Any, status: int = 200) -> webob.Response:
        return webob.Response(
            status=status, body=json.dumps(document).encode(), content_type="application/json"
        )

    def _discovery(self, request: webob.Request, form: dict[str, str]) -> webob.Response:
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("authorize"),
            "token_endpoint": self.url("token"),
            "userinfo_endpoint": self.url("userinfo"),
            "jwks_uri": self.url("jwks"),
            "end_session_endpoint": self.url("logout"),
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "subject_types_supported": ["pairwise"],
            "code_challenge_methods_supported": ["S256"],
            "response_types_supported": ["code"],
            "acr_values_supported": [ACR_AUTH_ONLY, "urn:acr.login.gov:verified"],
        }
        return self._json(merge(document, self.discovery_overrides))

    def _jwks(self, request: webob.Request, form: dict[str, str]) -> webob.Response:
        keys = [public_jwk(kid, key) for kid, key in self.signing_keys.items()]
        return self._json({"keys": [*self.extra_jwks, *keys]})

    def _authorize(self, request: webob.Request, form: dict[str, str]) -> webob.Response:
        q = request.GET
        problems = []
        if q.get("client_id") != self.client_id:
            problems.append("client_id")
        if q.get("redirect_uri") != REDIRECT_URI:
            problems.append("redirect_uri")
        if q.get("response_type") != "code":
            problems.append("response_type")
        if "openid" not in q.get("scope", "").split():
            problems.append("scope")
        if q.get("code_challenge_method") != "S256" or len(q.get("code_challenge", "")) != 43:
            problems.append("pkce")
        for name in ("state", "nonce"):
            if len(q.get(name, "")) < 22:
                problems.append(name)
        levels = [v for v in q.get("acr_values", "").split() if v.startswith("urn:acr.login.gov")]
        if len(levels) != 1:
            problems.append("acr_values")
        if problems:  # login.gov shows its own page and never returns to the client
            body = f"<html><body>Bad request: {', '.join(problems)}</body></html>"
            return webob.Response(status=400, body=body.encode(), content_type="text/html")
        params: dict[str, str] = {}
        if self.authorize_error is not None:
            params["error"] = self.authorize_error
        else:
            code = secrets.token_urlsafe(24)
            self.codes[code] = CodeGrant(
                nonce=q["nonce"],
                code_challenge=q["code_challenge"],
                redirect_uri=q["redirect_uri"],
                acr=levels[0],
            )
            params["code"] = code
        params["state"] = q["state"]
        if self.send_iss:
            params["iss"] = self.issuer
        response = webob.Response(status=302)
        response.location = REDIRECT_URI + "?" + urlencode(params)
        return response

    def _check_client_assertion(self, form: dict[str, str]) -> str | None:
        if form.get("client_assertion_type") != CLIENT_ASSERTION_TYPE:
            return "client_assertion_type is missing or wrong"
        try:
            claims = jwt.decode(
                form.get("client_assertion", ""),
                key=self.client_key.public_key(),
                algorithms=["RS256"],
                audience=self.url("token"),
                options={"require": ["iss", "sub", "aud", "jti", "exp"]},
            )
        except jwt.PyJWTError as exc:
            return f"client_assertion is invalid: {exc}"
        if claims["iss"] != self.client_id or claims["sub"] != self.client_id:
            return "client_assertion iss/sub is not the client_id"
        if claims["exp"] > time.time() + 600:
            return "client_assertion exp is too far ahead"
        if "iat" in claims and claims["iat"] > time.time() + 5:
            return "client_assertion iat is in the future"
        with self._lock:
            if claims["jti"] in self.seen_assertion_jtis:
                return "client_assertion jti was already used"
            self.seen_assertion_jtis.add(claims["jti"])
        return None

    def _check_grant(self, form: dict[str, str]) -> str | None:
        if form.get("grant_type") != "authorization_code":
            return "grant_type must be authorization_code"
        with self._lock:
            grant = self.codes.get(form.get("code", ""))
            if grant is None or grant.used:
                return "Code is invalid because doesn't match any user"
            grant.used = True  # single use, even when the rest of the request is wrong
        if "redirect_uri" in form and form["redirect_uri"] != grant.redirect_uri:
            return "redirect_uri does not match"
        if s256(form.get("code_verifier", "")) != grant.code_challenge:
            return "Code verifier code_verifier did not match code_challenge"
        return None

    def _token(self, request: webob.Request, form: dict[str, str]) -> webob.Response:
        if request.method != "POST":
            return self._json({"error": "Method not allowed"}, 405)
        problem = self._check_client_assertion(form) or self._check_grant(form)
        if problem is not None:
            return self._json({"error": problem}, 400)
        grant = self.codes[form["code"]]
        access_token = secrets.token_urlsafe(32)
        self.access_tokens[access_token] = self.sub
        claims = merge(self.standard_id_token_claims(grant, access_token), self.id_token_claims)
        header = merge({"alg": self.id_token_alg, "kid": self.active_kid}, self.id_token_headers)
        if self.id_token_factory is not None:
            id_token = self.id_token_factory(claims, header)
        else:
            key = self.id_token_key
            if key is None:
                hmac_alg = self.id_token_alg.upper().startswith("HS")
                key = b"a-secret-the-attacker-chose-32-bytes!" if hmac_alg else self.active_key
            id_token = make_jws(header, claims, signing_alg=self.id_token_alg, key=key)
        self.last_id_token = id_token
        document = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "id_token": id_token,
        }
        return self._json(merge(document, self.token_overrides))

    def _userinfo(self, request: webob.Request, form: dict[str, str]) -> webob.Response:
        authorization = request.headers.get("Authorization", "")
        scheme, _, token = authorization.partition(" ")
        sub = self.access_tokens.get(token) if scheme == "Bearer" else None
        if sub is None or "access_token" in request.GET or "access_token" in form:
            return self._json({"error": "Invalid bearer token."}, 401)
        document = {
            "sub": sub,
            "iss": self.issuer,
            "email": self.email,
            "email_verified": True,
            "ial": "1",
            "aal": "2",
        }
        return self._json(merge(document, self.userinfo_overrides))

    def _logout(self, request: webob.Request, form: dict[str, str]) -> webob.Response:
        return webob.Response(status=200, body=b"<p>Signed out</p>", content_type="text/html")


class ProviderApp:
    """The WSGI entry point; forwards to whichever TestProvider the current test uses."""

    def __init__(self) -> None:
        self.provider: TestProvider | None = None

    @webob.dec.wsgify
    def __call__(self, request: webob.Request) -> webob.Response:
        provider = self.provider
        if provider is None:
            return webob.Response(status=503, body=b"no test provider", content_type="text/plain")
        return provider.handle(request)


@dataclass
class ProviderServer:
    app: ProviderApp
    base_url: str
    pool: KeyPool
    extras: dict[str, Any] = field(default_factory=dict)


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def oidc_key_pool() -> KeyPool:
    """One client key and three provider keys for the whole session (never written to disk)."""
    return KeyPool(client=_rsa_key(), provider=[_rsa_key() for _ in range(3)])


@pytest.fixture(scope="session")
def stranger_key() -> rsa.RSAPrivateKey:
    """An RSA key nobody published: for forged tokens and unknown clients."""
    return _rsa_key()


@pytest.fixture(scope="session")
def oidc_provider_server(oidc_key_pool: KeyPool) -> Iterator[ProviderServer]:
    app = ProviderApp()
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=8)
    port = server.effective_port  # type: ignore[union-attr]
    thread = threading.Thread(target=server.run, name="test-oidc-provider", daemon=True)
    thread.start()
    try:
        yield ProviderServer(app=app, base_url=f"http://127.0.0.1:{port}", pool=oidc_key_pool)
    finally:
        # Closing every channel (keep-alive connections included) ends server.run()'s loop.
        wasyncore.close_all(server._map)  # type: ignore[union-attr]
        server.task_dispatcher.shutdown(timeout=2)  # type: ignore[union-attr]
        thread.join(timeout=5)


@pytest.fixture
def test_provider(oidc_provider_server: ProviderServer) -> Iterator[TestProvider]:
    """A fresh provider for this test, live at ``test_provider.issuer``."""
    provider = TestProvider(oidc_provider_server.base_url, oidc_provider_server.pool)
    oidc_provider_server.app.provider = provider
    try:
        yield provider
    finally:
        provider.released.set()
        oidc_provider_server.app.provider = None


@pytest.fixture
def closed_port_url() -> str:
    """An http://127.0.0.1 URL on which nothing listens (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@dataclass
class BlackHole:
    """A provider that accepts connections and never answers."""

    url: str
    connections: list[socket.socket] = field(default_factory=list)


@pytest.fixture
def black_hole() -> Iterator[BlackHole]:
    """An http://127.0.0.1 URL whose server accepts every connection and never says a word."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    listener.settimeout(0.2)
    hole = BlackHole(url=f"http://127.0.0.1:{listener.getsockname()[1]}")
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            hole.connections.append(conn)

    thread = threading.Thread(target=accept, name="black-hole", daemon=True)
    thread.start()
    try:
        yield hole
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in hole.connections:
            conn.close()
        listener.close()
