"""The relying-party side of login.gov's authorization code flow.

``begin`` builds the authorization URL for a fresh transaction; ``complete`` turns the callback
into a verified :class:`SignIn`: it exchanges the code at the token endpoint (authenticating with
``private_key_jwt`` and proving PKCE), validates the id_token by every rule of OIDC Core 3.1.3.7
and security.md, then reads userinfo. Each step runs only if the one before succeeded, and every
failure is an :class:`~loginsite.oidc.errors.OIDCError` subclass; nothing else escapes.

Time: the injectable ``clock`` drives what this side produces and caches (transaction
``created_at``, client assertion ``iat``/``exp``, discovery and JWKS cache ages). The id_token's
``exp``/``iat``/``nbf`` are checked by PyJWT against the wall clock, with ``config.leeway``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from oauthlib.common import add_params_to_uri
from oauthlib.oauth2 import WebApplicationClient

from . import _http
from .errors import (
    AuthorizationDenied,
    InvalidCallback,
    InvalidIdToken,
    InvalidUserinfo,
    OIDCError,
    ProviderError,
    ProviderRefused,
)
from .jwks import ProviderKeys
from .metadata import ProviderMetadata, ProviderMetadataCache
from .transaction import LoginTransaction, sanitize_next

if TYPE_CHECKING:
    from loginsite.settings import AppSettings

__all__ = ["CLIENT_ASSERTION_TYPE", "ClientConfig", "OIDCClient", "SignIn"]

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
ID_TOKEN_ALGORITHM = "RS256"  # noqa: S105 (an algorithm name, not a secret)
CLIENT_ASSERTION_LIFETIME = 300
MAX_TOKEN_LENGTH = 16384
MAX_CODE_LENGTH = 2048
# Header parameters that would point us at a key other than the provider's JWKS.
_KEY_POINTER_HEADERS = ("jwk", "jku", "x5u", "x5c")


@dataclass(frozen=True)
class ClientConfig:
    """Everything the client needs, independent of Pyramid."""

    issuer: str
    client_id: str
    private_key_pem: bytes = field(repr=False)
    redirect_uri: str
    post_logout_redirect_uri: str
    scope: tuple[str, ...] = ("openid", "email")
    acr_values: tuple[str, ...] = ("urn:acr.login.gov:auth-only",)
    prompt: str = "select_account"
    locale: str | None = None
    timeout: float = 5.0
    metadata_ttl: int = 3600
    leeway: int = 30
    allow_http: bool = False

    @classmethod
    def from_settings(cls, app_settings: AppSettings) -> ClientConfig:
        idp = app_settings.idp
        return cls(
            issuer=idp.issuer,
            client_id=idp.client_id,
            private_key_pem=idp.private_key_pem,
            redirect_uri=app_settings.redirect_uri,
            post_logout_redirect_uri=app_settings.post_logout_redirect_uri,
            scope=tuple(idp.scope),
            acr_values=tuple(idp.acr_values),
            prompt=idp.prompt,
            locale=idp.locale,
            timeout=idp.timeout,
            metadata_ttl=idp.metadata_ttl,
            leeway=idp.leeway,
            allow_http=idp.allow_http,
        )


@dataclass(frozen=True)
class SignIn:
    """A verified sign-in. Keep only what the session needs; never put the claims in a cookie."""

    sub: str
    email: str | None
    email_verified: bool
    acr: str
    ial: str | None
    aal: str | None
    id_token_claims: Mapping[str, Any] = field(repr=False)
    userinfo: Mapping[str, Any] = field(repr=False)


class OIDCClient:
    """Talks to the provider; safe to share between threads (caches are locked)."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        http: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self._http = http if http is not None else requests.Session()
        self._clock = clock
        key = load_pem_private_key(config.private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
            raise ValueError("the client private key must be RSA with at least 2048 bits")
        self._private_key = key
        self.metadata = ProviderMetadataCache(
            config.issuer,
            http=self._http,
            timeout=config.timeout,
            ttl=config.metadata_ttl,
            allow_http=config.allow_http,
            clock=clock,
        )
        self.jwks = ProviderKeys(
            http=self._http, timeout=config.timeout, ttl=config.metadata_ttl, clock=clock
        )

    # -- the browser leaves -------------------------------------------------------------

    def begin(
        self,
        *,
        next_path: str | None,
        acr_values: Sequence[str] | None = None,
        locale: str | None = None,
    ) -> tuple[LoginTransaction, str]:
        """A fresh transaction and the URL to send the browser to (needs discovery)."""
        metadata = self.metadata.get()
        transaction = LoginTransaction.new(
            next_path=sanitize_next(next_path),
            acr_values=tuple(acr_values) if acr_values else self.config.acr_values,
            created_at=int(self._clock()),
            locale=locale or self.config.locale,
        )
        extra = {"acr_values": " ".join(transaction.acr_values), "prompt": self.config.prompt}
        extra["nonce"] = transaction.nonce
        if transaction.locale:
            extra["locale"] = transaction.locale
        # oauthlib's prepare_request_uri refuses http outright, which would also refuse the
        # explicit development mode; the metadata loader already enforces https otherwise.
        params = [
            ("response_type", "code"),
            ("client_id", self.config.client_id),
            ("redirect_uri", self.config.redirect_uri),
            ("scope", " ".join(self.config.scope)),
            ("state", transaction.state),
            ("code_challenge", transaction.code_challenge),
            ("code_challenge_method", "S256"),
            *extra.items(),
        ]
        return transaction, add_params_to_uri(metadata.authorization_endpoint, params)

    # -- the browser comes back -----------------------------------------------------------

    def complete(self, transaction: LoginTransaction, params: Mapping[str, str]) -> SignIn:
        """Verify the callback and return who signed in; raises an OIDCError subclass."""
        try:
            return self._complete(transaction, params)
        except OIDCError:
            raise
        except Exception as exc:  # last resort: never let an unmapped error become a 500
            raise ProviderError(f"unexpected {type(exc).__name__} while signing in") from None

    def _complete(self, transaction: LoginTransaction, params: Mapping[str, str]) -> SignIn:
        error = params.get("error")
        if error is not None:
            raise AuthorizationDenied(_http.safe_text(error, 64))
        state = params.get("state")
        if not isinstance(state, str) or not hmac.compare_digest(
            state.encode(), transaction.state.encode()
        ):
            raise InvalidCallback("callback state does not match the transaction")
        metadata = self.metadata.get()
        iss = params.get("iss")
        if iss is not None and iss != metadata.issuer:
            raise InvalidCallback("callback iss does not match the issuer (RFC 9207)")
        if iss is None and metadata.authorization_response_iss_parameter_supported:
            raise InvalidCallback("callback has no iss although discovery promises one (RFC 9207)")
        code = params.get("code")
        if not isinstance(code, str) or not code or len(code) > MAX_CODE_LENGTH:
            raise InvalidCallback("callback has no usable code")
        tokens = self._exchange_code(metadata, code, transaction)
        claims = self.validate_id_token(tokens["id_token"], metadata, transaction)
        if "at_hash" in claims and not _at_hash_matches(claims["at_hash"], tokens["access_token"]):
            raise InvalidIdToken("id_token at_hash does not match the access token")
        userinfo = self._userinfo(metadata, tokens["access_token"], claims["sub"])
        return _sign_in(claims, userinfo)

    def _client_assertion(self, token_endpoint: str) -> str:
        """private_key_jwt (RFC 7523): aud is the token endpoint URL, not the issuer."""
        now = int(self._clock())
        claims = {
            "iss": self.config.client_id,
            "sub": self.config.client_id,
            "aud": token_endpoint,
            "jti": secrets.token_urlsafe(32),
            "iat": now,
            "exp": now + CLIENT_ASSERTION_LIFETIME,
        }
        return jwt.encode(claims, self._private_key, algorithm="RS256")

    def _exchange_code(
        self, metadata: ProviderMetadata, code: str, transaction: LoginTransaction
    ) -> dict[str, str]:
        # A fresh oauthlib client per exchange: parsing a response stores the tokens on it,
        # and this OIDCClient is shared between threads.
        oauth = WebApplicationClient(self.config.client_id)
        body = oauth.prepare_request_body(
            code=code,
            redirect_uri=self.config.redirect_uri,
            include_client_id=False,
            code_verifier=transaction.code_verifier,
            client_assertion_type=CLIENT_ASSERTION_TYPE,
            client_assertion=self._client_assertion(metadata.token_endpoint),
        )
        status, raw = _http.request(
            self._http,
            "POST",
            metadata.token_endpoint,
            what="token endpoint",
            timeout=self.config.timeout,
            headers={
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
            data=body,
        )
        if status >= 500 or status in (301, 302, 303, 307, 308):
            raise ProviderError(f"token endpoint: HTTP {status}")
        document = _http.parse_json_object(raw, what="token endpoint")
        if status != 200:
            error = document.get("error")
            if isinstance(error, str | list) and error:
                text = error if isinstance(error, str) else "; ".join(map(str, error))
                raise ProviderRefused(
                    f"token endpoint refused (HTTP {status}): {_http.safe_text(text)}"
                )
            raise ProviderError(f"token endpoint: HTTP {status} without an error")
        try:
            token = oauth.parse_request_body_response(raw.decode("utf-8"))
        except Exception as exc:  # oauthlib raises OAuth2Error, Warning, ValueError, ...
            raise ProviderError(
                f"token endpoint: unusable token response ({type(exc).__name__})"
            ) from None
        access_token, id_token = token.get("access_token"), token.get("id_token")
        token_type = token.get("token_type", "Bearer")
        if not isinstance(access_token, str) or not access_token:
            raise ProviderError("token endpoint: no access_token")
        if not isinstance(id_token, str) or not id_token:
            raise ProviderError("token endpoint: no id_token")
        if not isinstance(token_type, str) or token_type.lower() != "bearer":
            raise ProviderError("token endpoint: token_type is not Bearer")
        return {"access_token": access_token, "id_token": id_token}

    def validate_id_token(
        self, id_token: str, metadata: ProviderMetadata, transaction: LoginTransaction
    ) -> dict[str, Any]:
        """The id_token's claims after every check of OIDC Core 3.1.3.7; else InvalidIdToken."""
        if not isinstance(id_token, str) or len(id_token) > MAX_TOKEN_LENGTH:
            raise InvalidIdToken("id_token is not a string of sane length")
        # The header is untrusted until the signature checks out: read it only to refuse
        # anything but RS256 (before any decoding, so `none`/HS* never reach a verifier)
        # and to pick the key by kid.
        try:
            header = jwt.get_unverified_header(id_token)
        except jwt.PyJWTError as exc:
            raise InvalidIdToken(f"id_token header is malformed ({type(exc).__name__})") from None
        alg = header.get("alg")
        if alg != ID_TOKEN_ALGORITHM:
            raise InvalidIdToken(f"id_token alg {_http.safe_text(alg, 32)!r} is not RS256")
        for name in _KEY_POINTER_HEADERS:
            if name in header:
                raise InvalidIdToken(
                    f"id_token carries a {name!r} header; keys come from the JWKS only"
                )
        if "crit" in header or "b64" in header:
            raise InvalidIdToken("id_token has critical header extensions we do not understand")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise InvalidIdToken("id_token kid is not a string")
        key = self.jwks.signing_key(metadata.jwks_uri, kid)
        client_id = self.config.client_id
        try:
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key=key.key,
                algorithms=[ID_TOKEN_ALGORITHM],
                audience=client_id,
                issuer=metadata.issuer,
                leeway=self.config.leeway,
                options={
                    "verify_signature": True,
                    "verify_exp": True,
                    "verify_nbf": True,
                    "verify_iat": True,
                    "verify_aud": True,
                    "verify_iss": True,
                    "verify_sub": True,
                    "verify_jti": True,
                    "strict_aud": False,  # a list holding client_id is fine; azp rule below
                    "enforce_minimum_key_length": True,
                    "require": ["iss", "sub", "aud", "exp", "iat", "nonce"],
                },
            )
        except jwt.InvalidSignatureError:
            raise InvalidIdToken("id_token signature does not verify") from None
        except jwt.ExpiredSignatureError:
            raise InvalidIdToken("id_token has expired (exp)") from None
        except jwt.ImmatureSignatureError as exc:
            raise InvalidIdToken(f"id_token is not valid yet ({exc})") from None
        except jwt.MissingRequiredClaimError as exc:
            raise InvalidIdToken(f"id_token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidIssuerError:
            raise InvalidIdToken("id_token iss is not the provider's issuer") from None
        except jwt.InvalidAudienceError:
            raise InvalidIdToken("id_token aud is not our client_id") from None
        except jwt.PyJWTError as exc:
            raise InvalidIdToken(f"id_token is invalid ({type(exc).__name__})") from None
        # What PyJWT does not check (or checks loosely), checked here.
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name)
            if name in claims and (not isinstance(value, int | float) or isinstance(value, bool)):
                raise InvalidIdToken(f"id_token {name} is not a number")
        aud = claims["aud"]
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or not all(isinstance(a, str) for a in audiences):
            raise InvalidIdToken("id_token aud is not a string or list of strings")
        azp = claims.get("azp")
        if azp is not None and azp != client_id:
            raise InvalidIdToken("id_token azp is not our client_id")
        if len(audiences) > 1 and azp != client_id:
            raise InvalidIdToken("id_token has other audiences and no azp naming us")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub.strip():
            raise InvalidIdToken("id_token sub is empty")
        nonce = claims.get("nonce")
        if not isinstance(nonce, str) or not hmac.compare_digest(
            nonce.encode(), transaction.nonce.encode()
        ):
            raise InvalidIdToken("id_token nonce does not match this sign-in")
        acr = claims.get("acr")
        if not isinstance(acr, str) or acr not in transaction.acr_values:
            raise InvalidIdToken(
                f"id_token acr {_http.safe_text(acr, 100)!r} is not one we asked for"
            )
        return claims

    def _userinfo(self, metadata: ProviderMetadata, access_token: str, sub: str) -> dict[str, Any]:
        """GET userinfo with the bearer token in the header only; its sub must be ours."""
        status, raw = _http.request(
            self._http,
            "GET",
            metadata.userinfo_endpoint,
            what="userinfo",
            timeout=self.config.timeout,
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if status == 401:
            raise ProviderRefused("userinfo refused the access token (HTTP 401)")
        if status != 200:
            raise ProviderError(f"userinfo: HTTP {status}")
        document = _http.parse_json_object(raw, what="userinfo")
        found = document.get("sub")
        if not isinstance(found, str) or not hmac.compare_digest(found.encode(), sub.encode()):
            raise InvalidUserinfo("userinfo sub does not match the id_token sub")
        return document

    # -- signing out ----------------------------------------------------------------------

    def logout_url(self, state: str) -> str:
        """login.gov's RP-initiated logout URL (never with id_token_hint, which it rejects)."""
        metadata = self.metadata.get()
        if metadata.end_session_endpoint is None:
            raise ProviderError("discovery has no end_session_endpoint")
        query = urlencode(
            {
                "client_id": self.config.client_id,
                "post_logout_redirect_uri": self.config.post_logout_redirect_uri,
                "state": state,
            }
        )
        separator = "&" if "?" in metadata.end_session_endpoint else "?"
        return f"{metadata.end_session_endpoint}{separator}{query}"


def _at_hash_matches(at_hash: object, access_token: str) -> bool:
    """OIDC Core 3.1.3.6: base64url of the left half of SHA-256(access_token)."""
    digest = hashlib.sha256(access_token.encode("ascii", "replace")).digest()
    expected = base64.urlsafe_b64encode(digest[:16]).rstrip(b"=")
    return isinstance(at_hash, str) and hmac.compare_digest(at_hash.encode(), expected)


def _sign_in(claims: dict[str, Any], userinfo: dict[str, Any]) -> SignIn:
    def pick(name: str) -> Any:
        return userinfo.get(name, claims.get(name))

    email, ial, aal = pick("email"), pick("ial"), pick("aal")
    return SignIn(
        sub=claims["sub"],
        email=email if isinstance(email, str) else None,
        email_verified=pick("email_verified") is True,
        acr=claims["acr"],
        ial=ial if isinstance(ial, str) else None,
        aal=aal if isinstance(aal, str) else None,
        id_token_claims=dict(claims),
        userinfo=dict(userinfo),
    )
