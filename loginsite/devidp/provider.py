"""A login.gov look-alike OpenID provider, without any web framework.

It knows one client (the app itself: its client_id, redirect_uri, post-logout redirect URI and
public key) and enforces what login.gov enforces, answering errors the way login.gov does. The
views in :mod:`loginsite.devidp.views` only translate HTTP to these calls and back.

Time comes from ``DevProvider.clock`` (a ``time.time``-like callable) so tests can age codes and
tokens without sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from loginsite import credentials
from loginsite.settings import (
    ACR_AUTH_ONLY,
    ACR_VERIFIED,
    DEVIDP_PATH,
    SERVICE_LEVELS,
    AppSettings,
)

from .store import AccessToken, Grant, MemoryStore

log = logging.getLogger(__name__)

PREFIX = DEVIDP_PATH.rstrip("/")
SIGNING_KEY_FILE = "devidp-signing-key.pem"

CODE_LIFETIME = 300  # login.gov's code: 5 minutes (the docs say 15; the IdP code says 5)
ACCESS_TOKEN_LIFETIME = 3600
ID_TOKEN_LIFETIME = 900  # follows login.gov's 15-minute idle session
MIN_STATE_LENGTH = 22
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ASSERTION_LEEWAY = 30
AAL2_VALUES = (
    "http://idmanagement.gov/ns/assurance/aal/2",
    "http://idmanagement.gov/ns/assurance/aal/2?phishing_resistant=true",
    "http://idmanagement.gov/ns/assurance/aal/2?hspd12=true",
)
SCOPES = [
    "openid",
    "email",
    "all_emails",
    "locale",
    "profile",
    "profile:name",
    "profile:birthdate",
    "profile:verified_at",
    "address",
    "phone",
    "social_security_number",
    "x509",
    "x509:subject",
    "x509:issuer",
    "x509:presented",
]
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_PKCE = re.compile(r"^[A-Za-z0-9_-]{43}$")
_VERIFIER = re.compile(r"^[A-Za-z0-9._~-]{43,128}$")

ENDPOINTS = {
    "discovery": "/.well-known/openid-configuration",
    "authorization": "/openid_connect/authorize",
    "token": "/api/openid_connect/token",
    "userinfo": "/api/openid_connect/userinfo",
    "jwks": "/api/openid_connect/certs",
    "logout": "/openid_connect/logout",
}


@dataclass(frozen=True)
class TestUser:
    email: str
    given_name: str
    family_name: str

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"


TEST_USERS = (
    TestUser("alice@example.gov", "Alice", "Anders"),
    TestUser("bob@example.gov", "Bob", "Baptiste"),
    TestUser("chen@example.gov", "Chen", "Castillo"),
)


class ErrorPage(Exception):
    """The request cannot go back to the client (bad client_id or redirect URI): show a page."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__(message)
        self.title = title
        self.message = message


class RedirectError(Exception):
    """The request is wrong but the redirect URI is trusted: send the error back to the client."""

    def __init__(self, location: str, description: str) -> None:
        super().__init__(description)
        self.location = location
        self.description = description


class TokenError(Exception):
    """Token endpoint failure: HTTP 400 ``{"error": message}`` like login.gov."""


class UserinfoError(Exception):
    """Userinfo failure: HTTP 401 ``{"error": message}``."""


@dataclass(frozen=True)
class AuthorizationRequest:
    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    acr_values: tuple[str, ...]
    state: str
    nonce: str
    code_challenge: str | None
    code_challenge_method: str | None
    prompt: str | None
    locale: str | None

    @property
    def service_level(self) -> str:
        return ACR_VERIFIED if ACR_VERIFIED in self.acr_values else ACR_AUTH_ONLY

    @property
    def levels_offered(self) -> tuple[str, ...]:
        """What the developer may answer: verified (or, to test the app, auth-only) if asked."""
        if self.service_level == ACR_VERIFIED:
            return (ACR_VERIFIED, ACR_AUTH_ONLY)
        return (ACR_AUTH_ONLY,)

    def form_fields(self) -> dict[str, str]:
        """The original query, to carry through the authorization page's form."""
        fields = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "response_type": "code",
            "scope": " ".join(self.scope),
            "acr_values": " ".join(self.acr_values),
            "state": self.state,
            "nonce": self.nonce,
        }
        if self.code_challenge:
            fields["code_challenge"] = self.code_challenge
            fields["code_challenge_method"] = self.code_challenge_method or ""
        if self.prompt:
            fields["prompt"] = self.prompt
        if self.locale:
            fields["locale"] = self.locale
        return fields


@dataclass(frozen=True)
class LogoutRequest:
    client_id: str
    post_logout_redirect_uri: str
    state: str


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def half_hash(value: str) -> str:
    """OIDC at_hash / c_hash for RS256: base64url of the left half of SHA-256."""
    digest = hashlib.sha256(value.encode("ascii")).digest()
    return _b64url(digest[: len(digest) // 2])


def s256(verifier: str) -> str:
    return _b64url(hashlib.sha256(verifier.encode("ascii")).digest())


def add_query(url: str, params: Mapping[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(params)


def load_or_create_signing_key(data_dir: Path) -> rsa.RSAPrivateKey:
    """The provider's id_token signing key, kept in ``data_dir`` so tokens survive restarts."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = data_dir / SIGNING_KEY_FILE
    try:
        return credentials.load_private_key(path.read_bytes())
    except FileNotFoundError:
        pass
    key = credentials.generate_client_key()
    try:
        credentials.write_secret_file(path, credentials.private_key_pem(key))
    except FileExistsError:  # created meanwhile by another process: use that one
        return credentials.load_private_key(path.read_bytes())
    log.info("devidp.signing_key.created path=%s", path)
    return key


class DevProvider:
    """One development OpenID provider with one registered client."""

    def __init__(
        self,
        *,
        issuer: str,
        client_id: str,
        client_public_key: rsa.RSAPublicKey,
        redirect_uri: str,
        post_logout_redirect_uri: str,
        signing_key: rsa.RSAPrivateKey,
        clock: Callable[[], float] = time.time,
        store: MemoryStore | None = None,
        users: tuple[TestUser, ...] = TEST_USERS,
    ) -> None:
        if not issuer.endswith("/"):
            raise ValueError("the issuer must end with '/' like login.gov's")
        self.issuer = issuer
        self.base_url = issuer.rstrip("/")
        self.client_id = client_id
        self.client_public_key = client_public_key
        self.redirect_uri = redirect_uri
        self.post_logout_redirect_uri = post_logout_redirect_uri
        self.signing_key = signing_key
        self.kid = credentials.jwk_thumbprint(signing_key.public_key())
        self.clock = clock
        self.store = store or MemoryStore()
        self.users = users
        # Pairwise subjects: stable for a key (data dir) + client + email, opaque otherwise.
        seed = hmac.new(
            credentials.private_key_pem(signing_key), b"loginsite.devidp subject", hashlib.sha256
        ).digest()
        self._subject_namespace = uuid.UUID(bytes=seed[:16])

    @classmethod
    def from_settings(
        cls, settings: AppSettings, *, clock: Callable[[], float] = time.time
    ) -> DevProvider:
        if settings.devidp is None:
            raise ValueError("loginsite.devidp.data_dir is not set")
        client_key = credentials.load_private_key(settings.idp.private_key_pem)
        return cls(
            issuer=settings.public_url + PREFIX + "/",
            client_id=settings.idp.client_id,
            client_public_key=client_key.public_key(),
            redirect_uri=settings.redirect_uri,
            post_logout_redirect_uri=settings.post_logout_redirect_uri,
            signing_key=load_or_create_signing_key(settings.devidp.data_dir),
            clock=clock,
        )

    # -- metadata ------------------------------------------------------------------------------

    def url(self, endpoint: str) -> str:
        return self.base_url + ENDPOINTS[endpoint]

    @property
    def token_endpoint(self) -> str:
        return self.url("token")

    def discovery(self) -> dict[str, Any]:
        return {
            "issuer": self.issuer,
            "authorization_endpoint": self.url("authorization"),
            "token_endpoint": self.url("token"),
            "userinfo_endpoint": self.url("userinfo"),
            "jwks_uri": self.url("jwks"),
            "end_session_endpoint": self.url("logout"),
            "service_documentation": "https://developers.login.gov/",
            "response_types_supported": ["code"],
            "grant_types_supported": ["authorization_code"],
            "acr_values_supported": [
                ACR_AUTH_ONLY,
                ACR_VERIFIED,
                *AAL2_VALUES,
                "http://idmanagement.gov/ns/assurance/ial/1",
                "http://idmanagement.gov/ns/assurance/ial/2",
            ],
            "scopes_supported": SCOPES,
            "claims_supported": [
                "iss",
                "sub",
                "email",
                "email_verified",
                "all_emails",
                "given_name",
                "family_name",
                "ial",
                "aal",
                "verified_at",
                "locale",
            ],
            "subject_types_supported": ["pairwise"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "prompt_values_supported": ["select_account", "login"],
            "ui_locales_supported": ["en", "es", "fr", "zh"],
        }

    def jwks(self) -> dict[str, Any]:
        return {"keys": [credentials.public_jwk(self.signing_key.public_key(), self.kid)]}

    def subject_for(self, email: str) -> str:
        return str(uuid.uuid5(self._subject_namespace, f"{self.client_id}\n{email.lower()}"))

    # -- authorization ---------------------------------------------------------------------

    def _registered_client(
        self, params: Mapping[str, str], uri_param: str, registered_uri: str, title: str
    ) -> tuple[str, str]:
        """The client_id and a URI, both exactly as registered, or an error page (login.gov
        never redirects to an unregistered client or URI)."""
        client_id = params.get("client_id", "")
        if client_id != self.client_id:
            raise ErrorPage(
                "Unknown service provider",
                f"client_id {client_id!r} is not registered with this provider. The app is "
                f"registered as {self.client_id!r}.",
            )
        uri = params.get(uri_param, "")
        if uri != registered_uri:
            raise ErrorPage(
                title,
                f"{uri_param} {uri!r} is not registered for this app; the registered one is "
                f"{registered_uri!r}.",
            )
        return client_id, uri

    def validate_authorization_request(self, params: Mapping[str, str]) -> AuthorizationRequest:
        """Check an authorization request; raises :class:`ErrorPage` or :class:`RedirectError`."""
        client_id, redirect_uri = self._registered_client(
            params, "redirect_uri", self.redirect_uri, "Redirect URI not registered"
        )
        state = params.get("state", "")

        def bad(description: str) -> RedirectError:
            query = {"error": "invalid_request", "error_description": description}
            if state:
                query["state"] = state
            return RedirectError(add_query(redirect_uri, query), description)

        if params.get("response_type") != "code":
            raise bad("Response type is not included in the list")
        scope = tuple(params.get("scope", "").split())
        if "openid" not in scope:
            raise bad("Scope is invalid: openid is required")
        scope = tuple(s for s in scope if s in SCOPES)  # unknown scopes are dropped
        if len(state) < MIN_STATE_LENGTH:
            raise bad(f"State is too short (minimum is {MIN_STATE_LENGTH} characters)")
        nonce = params.get("nonce", "")
        if len(nonce) < MIN_STATE_LENGTH:
            raise bad(f"Nonce is too short (minimum is {MIN_STATE_LENGTH} characters)")
        acr_values = tuple(params.get("acr_values", "").split())
        levels = [v for v in acr_values if v in SERVICE_LEVELS]
        if not levels:
            raise bad("Acr values are missing a service level (auth-only or verified)")
        code_challenge = params.get("code_challenge") or None
        method = params.get("code_challenge_method") or None
        if code_challenge is not None or method is not None:
            if method != "S256":
                raise bad("Code challenge method is not included in the list (S256 only)")
            if code_challenge is None or not _PKCE.match(code_challenge):
                raise bad("Code challenge must be the base64url SHA-256 of the code verifier")
        prompt = params.get("prompt") or None
        if prompt is not None and prompt not in ("select_account", "login"):
            raise bad("Prompt is not included in the list")
        locale = params.get("locale") or None
        if locale not in (None, "en", "es", "fr", "zh"):
            locale = None
        return AuthorizationRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            acr_values=acr_values,
            state=state,
            nonce=nonce,
            code_challenge=code_challenge,
            code_challenge_method=method,
            prompt=prompt,
            locale=locale,
        )

    def approve(self, request: AuthorizationRequest, email: str, level: str) -> str:
        """The user signed in as ``email`` at ``level``: the redirect back with a fresh code."""
        email = email.strip()
        if not _EMAIL.match(email):
            raise ValueError("Enter an email address like name@example.gov")
        if level not in request.levels_offered:
            raise ValueError("Choose one of the assurance levels offered")
        code = secrets.token_urlsafe(32)
        self.store.put_code(
            code,
            Grant(
                client_id=request.client_id,
                redirect_uri=request.redirect_uri,
                scope=request.scope,
                acr=level,
                nonce=request.nonce,
                code_challenge=request.code_challenge,
                email=email,
                sub=self.subject_for(email),
                issued_at=self.clock(),
            ),
        )
        log.info("devidp.authorize.approved acr=%s", level)
        return add_query(request.redirect_uri, {"code": code, "state": request.state})

    def deny(self, request: AuthorizationRequest) -> str:
        """The user pressed Cancel."""
        return add_query(request.redirect_uri, {"error": "access_denied", "state": request.state})

    # -- token -----------------------------------------------------------------------------

    def _verify_client_assertion(self, assertion: str) -> None:
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            raise TokenError("client_assertion is not a JWT") from None
        if header.get("alg") != "RS256":
            raise TokenError("client_assertion must be signed with RS256")
        try:
            claims = jwt.decode(
                assertion,
                self.client_public_key,
                algorithms=["RS256"],
                # Times are checked below against self.clock; audience too, for a clear message.
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "verify_aud": False,
                    "verify_iss": False,
                },
            )
        except jwt.InvalidSignatureError:
            raise TokenError(
                "client_assertion signature does not match the client's registered key"
            ) from None
        except jwt.PyJWTError as exc:
            raise TokenError(f"client_assertion is invalid: {exc}") from None
        now = self.clock()
        if claims.get("iss") != self.client_id:
            raise TokenError("client_assertion iss is not a registered client_id")
        if claims.get("sub") != claims.get("iss"):
            raise TokenError("client_assertion sub must equal iss (the client_id)")
        aud = claims.get("aud")
        auds = aud if isinstance(aud, list) else [aud]
        if self.token_endpoint not in auds:
            raise TokenError(
                f"client_assertion aud must be the token endpoint {self.token_endpoint}"
            )
        exp = claims.get("exp")
        if not isinstance(exp, int | float) or isinstance(exp, bool):
            raise TokenError("client_assertion exp is missing")
        if exp <= now - ASSERTION_LEEWAY:
            raise TokenError("client_assertion has expired")
        iat = claims.get("iat")
        if iat is not None and (not isinstance(iat, int | float) or iat > now + ASSERTION_LEEWAY):
            raise TokenError("client_assertion iat is in the future")
        jti = claims.get("jti")
        if not isinstance(jti, str) or not jti:
            raise TokenError("client_assertion jti is missing")
        if not self.store.remember_jti(jti, float(exp) + ASSERTION_LEEWAY, now):
            raise TokenError("client_assertion jti has already been used")

    def exchange_code(self, form: Mapping[str, str]) -> dict[str, Any]:
        """The token endpoint; raises :class:`TokenError`."""
        if form.get("grant_type") != "authorization_code":
            raise TokenError("grant_type must be authorization_code")
        code = form.get("code") or ""
        if not code:
            raise TokenError("code is missing")
        if form.get("client_assertion_type") != ASSERTION_TYPE:
            raise TokenError(f"client_assertion_type must be {ASSERTION_TYPE}")
        assertion = form.get("client_assertion") or ""
        if not assertion:
            raise TokenError("client_assertion is missing")
        self._verify_client_assertion(assertion)
        grant, first_use = self.store.claim_code(code)
        if grant is None:
            raise TokenError("code is invalid")
        if not first_use:
            self.store.revoke_grant_tokens(grant)
            raise TokenError("code has already been used")
        now = self.clock()
        if now - grant.issued_at > CODE_LIFETIME:
            raise TokenError("code has expired")
        if grant.client_id != self.client_id:
            raise TokenError("code was not issued to this client")
        verifier = form.get("code_verifier") or ""
        if grant.code_challenge is not None:
            if not verifier:
                raise TokenError("code_verifier is missing")
            if not _VERIFIER.match(verifier) or not hmac.compare_digest(
                s256(verifier), grant.code_challenge
            ):
                raise TokenError("code_verifier does not match code_challenge")
        access_token = secrets.token_urlsafe(32)
        self.store.put_token(
            access_token,
            AccessToken(
                sub=grant.sub,
                email=grant.email,
                acr=grant.acr,
                scope=grant.scope,
                expires_at=now + ACCESS_TOKEN_LIFETIME,
            ),
            grant,
        )
        log.info("devidp.token.issued")
        return {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": ACCESS_TOKEN_LIFETIME,
            "id_token": self.id_token(grant, access_token, code, now),
        }

    def id_token(self, grant: Grant, access_token: str, code: str, now: float) -> str:
        issued = int(now)
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": grant.sub,
            "aud": self.client_id,
            "acr": grant.acr,
            "nonce": grant.nonce,
            "at_hash": half_hash(access_token),
            "c_hash": half_hash(code),
            "jti": secrets.token_urlsafe(16),
            "iat": issued,
            "nbf": issued,
            "exp": issued + ID_TOKEN_LIFETIME,
            "ial": 2 if grant.acr == ACR_VERIFIED else 1,
            "aal": 1,
        }
        if "email" in grant.scope or "all_emails" in grant.scope:
            claims["email"] = grant.email
            claims["email_verified"] = True
        return jwt.encode(claims, self.signing_key, algorithm="RS256", headers={"kid": self.kid})

    # -- userinfo --------------------------------------------------------------------------

    def userinfo(self, authorization: str | None) -> dict[str, Any]:
        """The userinfo document for ``Authorization: Bearer TOKEN``; raises UserinfoError."""
        scheme, _, token = (authorization or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise UserinfoError("No access token: send Authorization: Bearer ACCESS_TOKEN")
        access = self.store.get_token(token)
        if access is None:
            raise UserinfoError(
                "Could not find authorization for the contents of the provided "
                "access_token or it may have expired"
            )
        if access.expires_at <= self.clock():
            raise UserinfoError("The access token has expired")
        verified = access.acr == ACR_VERIFIED
        info: dict[str, Any] = {
            "sub": access.sub,
            "iss": self.issuer,
            "ial": 2 if verified else 1,
            "aal": 1,
        }
        if "email" in access.scope or "all_emails" in access.scope:
            info["email"] = access.email
            info["email_verified"] = True
        if "all_emails" in access.scope:
            info["all_emails"] = [access.email]
        if verified:
            info["verified_at"] = int(self.clock()) - 86400
            user = next((u for u in self.users if u.email == access.email), None)
            if user is not None and ("profile" in access.scope or "profile:name" in access.scope):
                info["given_name"] = user.given_name
                info["family_name"] = user.family_name
        return info

    # -- logout ----------------------------------------------------------------------------

    def validate_logout_request(self, params: Mapping[str, str]) -> LogoutRequest:
        """Check RP-initiated logout; raises :class:`ErrorPage` (login.gov never redirects)."""
        if params.get("id_token_hint"):
            raise ErrorPage(
                "id_token_hint is not accepted",
                "login.gov no longer accepts id_token_hint (since October 2022): send "
                "client_id, post_logout_redirect_uri and state instead.",
            )
        client_id, uri = self._registered_client(
            params,
            "post_logout_redirect_uri",
            self.post_logout_redirect_uri,
            "Sign-out redirect URI not registered",
        )
        state = params.get("state", "")
        if len(state) < MIN_STATE_LENGTH:
            raise ErrorPage(
                "Invalid sign-out request",
                f"state must be at least {MIN_STATE_LENGTH} characters.",
            )
        return LogoutRequest(client_id=client_id, post_logout_redirect_uri=uri, state=state)

    def logout_redirect(self, request: LogoutRequest) -> str:
        return add_query(request.post_logout_redirect_uri, {"state": request.state})
