"""The relying-party side of login.gov's authorization code flow, through ``OAuth2Session``.

``begin`` builds the authorization URL (PKCE S256) for a fresh transaction; ``complete`` turns
the callback into a verified :class:`SignIn`: it exchanges the code at the token endpoint
(authenticating with ``private_key_jwt`` and proving PKCE), validates the id_token by every rule
of OIDC Core 3.1.3.7 (:mod:`loginsite.oidc.id_token`), then reads userinfo with the bearer
token. Each step runs only if the one before succeeded, and every failure is an
:class:`~loginsite.oidc.errors.OIDCError` subclass; nothing else escapes.

requests-oauthlib's ``OAuth2Session`` does the OAuth parts; each sign-in step gets a fresh one
(it holds that sign-in's tokens, and this client is shared between threads), all sending
through one :class:`~loginsite.oidc._http.ProviderTransport` (timeouts, deadline, size cap, no
redirects, the cap on concurrent calls) and sharing its connection pool.

Time: the injectable ``clock`` drives everything: transaction ``created_at``, client assertion
``iat``/``exp``, the id_token's ``exp``/``iat``/``nbf`` checks and the cache ages.
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from oauthlib.oauth2 import WebApplicationClient
from requests_oauthlib import OAuth2Session

from . import _http
from .config import ClientConfig
from .errors import (
    AuthorizationDenied,
    InvalidCallback,
    InvalidUserinfo,
    OIDCError,
    ProviderError,
    ProviderRefused,
)
from .id_token import Expectations, validate_at_hash, validate_id_token
from .jwks import ProviderKeys
from .metadata import ProviderMetadata, ProviderMetadataCache
from .transaction import LoginTransaction, sanitize_next

__all__ = [
    "CLIENT_ASSERTION_TYPE",
    "OIDCClient",
    "SignIn",
    "TokenResponse",
    "check_token_answer",
    "check_userinfo_answer",
    "token_request",
    "tokens_from",
]

log = logging.getLogger(__name__)

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CLIENT_ASSERTION_LIFETIME = 300
MAX_CODE_LENGTH = 2048
_REDIRECT_STATUSES = range(300, 400)


def _drop_debug_records(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.WARNING


# requests-oauthlib logs request bodies and tokens at DEBUG: never let those reach a log.
logging.getLogger("requests_oauthlib.oauth2_session").addFilter(_drop_debug_records)


def _no_http_auth(request: requests.PreparedRequest) -> requests.PreparedRequest:
    """Authenticate with the client assertion only: without an explicit ``auth``,
    OAuth2Session would add HTTP Basic with an empty secret, a second client authentication."""
    return request


def _allow_http_in_oauthlib() -> None:
    """oauthlib refuses http unless a process-wide variable says otherwise. Only explicit
    development mode (``allow_http``, refused by the settings in production) sets it."""
    if not os.environ.get("OAUTHLIB_INSECURE_TRANSPORT"):
        log.warning("oidc.allow_http: plain http provider endpoints allowed (development only)")
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


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


@dataclass(frozen=True)
class TokenResponse:
    """What the token endpoint answered, once checked."""

    access_token: str = field(repr=False)
    id_token: str = field(repr=False)


# -- the token request, in three steps: build it, send it, read the answer -------------------


def token_request(*, code: str, code_verifier: str, client_assertion: str) -> dict[str, str]:
    """The token request's parameters beyond ``grant_type``/``redirect_uri`` (which oauthlib
    adds): the code, the PKCE verifier and the ``private_key_jwt`` client assertion."""
    return {
        "code": code,
        "code_verifier": code_verifier,
        "client_assertion_type": CLIENT_ASSERTION_TYPE,
        "client_assertion": client_assertion,
    }


def check_token_answer(status: int, body: bytes) -> None:
    """Refuse a token endpoint answer that is not a 200 JSON object, saying why.

    login.gov refuses with HTTP 400 and ``{"error": "human readable text"}``.
    """
    if status >= 500:
        raise ProviderError(f"token endpoint: HTTP {status}")
    if status in _REDIRECT_STATUSES:
        raise ProviderError(f"token endpoint: HTTP {status}", answer_refused=True)
    document = _http.parse_json_object(body, what="token endpoint")
    if status == 200:
        return
    error = document.get("error")
    if isinstance(error, str | list) and error:
        text = error if isinstance(error, str) else "; ".join(map(str, error))
        raise ProviderRefused(f"token endpoint refused (HTTP {status}): {_http.safe_text(text)}")
    raise ProviderError(f"token endpoint: HTTP {status} without an error", answer_refused=True)


def tokens_from(token: Mapping[str, Any]) -> TokenResponse:
    """The access and id tokens of a parsed token response; ProviderError if unusable."""
    access_token, id_token = token.get("access_token"), token.get("id_token")
    token_type = token.get("token_type", "Bearer")
    if not isinstance(access_token, str) or not access_token:
        raise ProviderError("token endpoint: no access_token", answer_refused=True)
    if not isinstance(id_token, str) or not id_token:
        raise ProviderError("token endpoint: no id_token", answer_refused=True)
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        raise ProviderError("token endpoint: token_type is not Bearer", answer_refused=True)
    return TokenResponse(access_token=access_token, id_token=id_token)


def check_userinfo_answer(status: int, body: bytes, sub: str) -> dict[str, Any]:
    """The userinfo document, if it is a 200 JSON object whose ``sub`` is the id_token's."""
    if status == 401:
        raise ProviderRefused("userinfo refused the access token (HTTP 401)")
    if status != 200:
        raise ProviderError(f"userinfo: HTTP {status}", answer_refused=status < 500)
    document = _http.parse_json_object(body, what="userinfo")
    found = document.get("sub")
    if not isinstance(found, str) or not hmac.compare_digest(
        found.encode("utf-8", "surrogatepass"), sub.encode("utf-8", "surrogatepass")
    ):
        raise InvalidUserinfo("userinfo sub does not match the id_token sub")
    return document


def _checked_token_answer(response: requests.Response) -> requests.Response:
    """OAuth2Session's ``access_token_response`` hook: refuse before oauthlib parses."""
    check_token_answer(response.status_code, response.content)
    return response


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
        self._clock = clock
        key = load_pem_private_key(config.private_key_pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
            raise ValueError("the client private key must be RSA with at least 2048 bits")
        self._private_key = key
        if config.allow_http:
            _allow_http_in_oauthlib()
        self.gate = _http.ProviderGate(config.max_concurrent_calls)
        self.transport = _http.ProviderTransport(timeout=config.timeout, gate=self.gate)
        self._http = _http.mount(http if http is not None else requests.Session(), self.transport)
        self.metadata = ProviderMetadataCache(
            config.issuer,
            http=self._http,
            timeout=config.timeout,
            ttl=config.metadata_ttl,
            allow_http=config.allow_http,
            clock=clock,
            gate=self.gate,
        )
        self.jwks = ProviderKeys(
            http=self._http,
            timeout=config.timeout,
            ttl=config.metadata_ttl,
            clock=clock,
            gate=self.gate,
        )

    def _oauth_session(
        self, client: WebApplicationClient | None = None, **kwargs: Any
    ) -> OAuth2Session:
        """A fresh OAuth2Session for one sign-in step, sending through the shared transport."""
        session = OAuth2Session(
            client=client or WebApplicationClient(self.config.client_id),
            redirect_uri=self.config.redirect_uri,
            **kwargs,
        )
        _http.mount(session, self.transport)
        return session

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
        oauth_client = WebApplicationClient(self.config.client_id)
        oauth = self._oauth_session(oauth_client, scope=list(self.config.scope))
        url, _ = oauth.authorization_url(
            metadata.authorization_endpoint,
            state=transaction.state,
            code_challenge=oauth_client.create_code_challenge(transaction.code_verifier, "S256"),
            code_challenge_method="S256",
            acr_values=" ".join(transaction.acr_values),
            prompt=self.config.prompt,
            nonce=transaction.nonce,
            locale=transaction.locale,  # dropped when None
        )
        return transaction, url

    # -- the browser comes back -----------------------------------------------------------

    def complete(self, transaction: LoginTransaction, params: Mapping[str, str]) -> SignIn:
        """Verify the callback and return who signed in; raises an OIDCError subclass."""
        try:
            return self._complete(transaction, params)
        except OIDCError:
            raise
        except Exception as exc:  # last resort: never let an unmapped error become a 500
            raise ProviderError(
                f"unexpected {type(exc).__name__} while signing in", answer_refused=True
            ) from None

    def _complete(self, transaction: LoginTransaction, params: Mapping[str, str]) -> SignIn:
        error = params.get("error")
        if error is not None:
            raise AuthorizationDenied(_http.safe_text(error, 64))
        state = params.get("state")
        if not isinstance(state, str) or not hmac.compare_digest(
            state.encode("utf-8", "surrogatepass"), transaction.state.encode()
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
        oauth = self._oauth_session()  # holds this sign-in's tokens: never shared
        tokens = self._exchange_code(oauth, metadata, code, transaction)
        claims = validate_id_token(
            tokens.id_token,
            self._expectations(metadata, transaction),
            lambda kid: self.jwks.signing_key(metadata.jwks_uri, kid).key,
        )
        validate_at_hash(claims, tokens.access_token)
        userinfo = self._userinfo(oauth, metadata, claims["sub"])
        return _sign_in(claims, userinfo)

    def _expectations(
        self, metadata: ProviderMetadata, transaction: LoginTransaction
    ) -> Expectations:
        return Expectations(
            issuer=metadata.issuer,
            client_id=self.config.client_id,
            nonce=transaction.nonce,
            acr_values=transaction.acr_values,
            started_at=transaction.created_at,
            now=self._clock(),
            leeway=self.config.leeway,
        )

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
        self,
        oauth: OAuth2Session,
        metadata: ProviderMetadata,
        code: str,
        transaction: LoginTransaction,
    ) -> TokenResponse:
        """The HTTP step: OAuth2Session sends the request and parses the answer."""
        request = token_request(
            code=code,
            code_verifier=transaction.code_verifier,
            client_assertion=self._client_assertion(metadata.token_endpoint),
        )
        oauth.register_compliance_hook("access_token_response", _checked_token_answer)
        with _http.provider_call("token endpoint", self.config.timeout):
            try:
                token = oauth.fetch_token(
                    metadata.token_endpoint,
                    auth=_no_http_auth,
                    include_client_id=False,
                    timeout=self.config.timeout,
                    **request,
                )
            except (OIDCError, requests.RequestException):
                raise
            except Exception as exc:  # oauthlib raises OAuth2Error, Warning, ValueError, ...
                raise ProviderError(
                    f"token endpoint: unusable token response ({type(exc).__name__})",
                    answer_refused=True,
                ) from None
        return tokens_from(token)

    def _userinfo(
        self, oauth: OAuth2Session, metadata: ProviderMetadata, sub: str
    ) -> dict[str, Any]:
        """GET userinfo with the bearer token in the header only (OAuth2Session adds it)."""
        with _http.provider_call("userinfo", self.config.timeout):
            try:
                response = oauth.get(
                    metadata.userinfo_endpoint,
                    headers={"Accept": "application/json"},
                    timeout=self.config.timeout,
                    allow_redirects=False,
                )
            except requests.RequestException:
                raise
            except Exception as exc:  # oauthlib refusing to add the token
                raise ProviderError(f"userinfo: not sent ({type(exc).__name__})") from None
        return check_userinfo_answer(response.status_code, response.content, sub)

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
