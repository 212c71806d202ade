"""The provider's discovery document (OpenID Connect Discovery 1.0), vetted and cached.

Endpoints are read from discovery, never hard-coded, so the document is checked before use:
its ``issuer`` must be the configured one by exact string comparison (login.gov's ends with a
slash), every endpoint must be https unless development mode explicitly allows http, and RS256
must be offered for id_tokens.

Cache policy: a good document is served for ``ttl`` seconds. After that the next caller fetches a
fresh one. If that refresh fails, the last good document keeps being served for up to another
``ttl`` seconds (the provider's endpoints rarely move, and a short discovery outage should not
stop sign-ins), with at most one new attempt every ``retry_interval`` seconds so callers do not
each wait for a timeout. With no usable document, concurrent callers share one fetch and a
failure is remembered for ``failure_ttl`` seconds (a few), so a provider outage answers sign-in
at once, and sign-in works again a few seconds after the provider is back
(:mod:`loginsite.oidc.single_flight`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from . import _http
from .errors import OIDCError, ProviderUnavailable
from .single_flight import FAILURE_TTL, SingleFlight

__all__ = ["CacheState", "ProviderMetadata", "ProviderMetadataCache", "discovery_url"]

REQUIRED_ALG = "RS256"
_ENDPOINTS = (
    "authorization_endpoint",
    "token_endpoint",
    "userinfo_endpoint",
    "jwks_uri",
)


def discovery_url(issuer: str) -> str:
    """``ISSUER/.well-known/openid-configuration`` without doubling the issuer's trailing slash."""
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def check_url(name: str, url: object, *, allow_http: bool) -> str:
    """An absolute https URL (http only when ``allow_http``); ProviderUnavailable otherwise."""
    if not isinstance(url, str) or not url:
        raise ProviderUnavailable(f"discovery: {name} is missing or not a string")
    parts = urlsplit(url)
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed or not parts.netloc:
        raise ProviderUnavailable(
            f"discovery: {name} must be an absolute {' or '.join(allowed)} URL, "
            f"got scheme {parts.scheme!r}"
        )
    if parts.fragment or "@" in parts.netloc:
        raise ProviderUnavailable(f"discovery: {name} must not carry a fragment or credentials")
    return url


@dataclass(frozen=True)
class ProviderMetadata:
    """The parts of the discovery document the client relies on."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    userinfo_endpoint: str
    jwks_uri: str
    end_session_endpoint: str | None
    id_token_signing_alg_values_supported: tuple[str, ...]
    authorization_response_iss_parameter_supported: bool = False

    @classmethod
    def from_document(
        cls, document: Mapping[str, Any], *, issuer: str, allow_http: bool
    ) -> ProviderMetadata:
        """Vet a discovery document; raises ProviderUnavailable naming the first problem."""
        found_issuer = document.get("issuer")
        if found_issuer != issuer:
            raise ProviderUnavailable(
                f"discovery: issuer {_http.safe_text(found_issuer)!r} is not the configured "
                f"issuer {issuer!r}"
            )
        check_url("issuer", issuer, allow_http=allow_http)
        endpoints = {
            name: check_url(name, document.get(name), allow_http=allow_http) for name in _ENDPOINTS
        }
        end_session = document.get("end_session_endpoint")
        if end_session is not None:
            end_session = check_url("end_session_endpoint", end_session, allow_http=allow_http)
        algs = document.get("id_token_signing_alg_values_supported")
        if not isinstance(algs, list) or not all(isinstance(a, str) for a in algs):
            raise ProviderUnavailable(
                "discovery: id_token_signing_alg_values_supported is missing or not a list"
            )
        if REQUIRED_ALG not in algs:
            raise ProviderUnavailable(f"discovery: provider does not offer {REQUIRED_ALG}")
        iss_supported = document.get("authorization_response_iss_parameter_supported", False)
        return cls(
            issuer=issuer,
            end_session_endpoint=end_session,
            id_token_signing_alg_values_supported=tuple(algs),
            authorization_response_iss_parameter_supported=iss_supported is True,
            **endpoints,
        )


@dataclass(frozen=True)
class CacheState:
    """A read-only look at a provider cache, for health reports; never fetches anything.

    ``state``: ``fresh`` (within its ttl), ``stale`` (past it, or refreshes are failing, while
    the last good copy is still served) or ``missing`` (nothing usable fetched yet).
    """

    state: str
    age: float | None  # seconds since the last good fetch
    failing: bool  # the last attempt to refresh failed


class ProviderMetadataCache:
    """Fetches, vets and caches the discovery document (see the module docstring for policy)."""

    def __init__(
        self,
        issuer: str,
        *,
        http: requests.Session,
        timeout: float,
        ttl: float,
        allow_http: bool = False,
        clock: Callable[[], float] = time.time,
        retry_interval: float = 30.0,
        gate: _http.ProviderGate | None = None,
        failure_ttl: float = FAILURE_TTL,
    ) -> None:
        self.issuer = issuer
        self.url = discovery_url(issuer)
        self._http = _http.guarded(http, timeout)
        self._timeout = timeout
        self._ttl = ttl
        self._allow_http = allow_http
        self._clock = clock
        self._retry_interval = retry_interval
        self._lock = threading.Lock()
        self._metadata: ProviderMetadata | None = None
        self._fetched_at = 0.0
        self._last_failure_at: float | None = None
        self._flight: SingleFlight[ProviderMetadata] = SingleFlight(
            what="discovery",
            wait_limit=2 * timeout + 1,
            gate=gate,
            failure_ttl=failure_ttl,
            clock=clock,
        )

    def get(self) -> ProviderMetadata:
        """Vetted metadata; raises ProviderUnavailable/ProviderTimeout/ProviderError."""
        now = self._clock()
        with self._lock:
            metadata, fetched_at, failed_at = (
                self._metadata,
                self._fetched_at,
                self._last_failure_at,
            )
        if metadata is not None and now - fetched_at < self._ttl:
            return metadata
        stale_usable = metadata is not None and now - fetched_at < 2 * self._ttl
        if stale_usable and failed_at is not None and now - failed_at < self._retry_interval:
            assert metadata is not None
            return metadata
        try:
            fresh = self._flight.run(self.url, self._fetch)
        except OIDCError:
            if stale_usable:
                assert metadata is not None
                with self._lock:
                    self._last_failure_at = now
                return metadata
            raise
        with self._lock:
            self._metadata, self._fetched_at, self._last_failure_at = fresh, now, None
        return fresh

    def state(self) -> CacheState:
        now = self._clock()
        with self._lock:
            metadata, fetched_at, failed_at = (
                self._metadata,
                self._fetched_at,
                self._last_failure_at,
            )
        if metadata is None:
            return CacheState("missing", None, failed_at is not None)
        age = now - fetched_at
        fresh = age < self._ttl and failed_at is None
        return CacheState("fresh" if fresh else "stale", age, failed_at is not None)

    @property
    def current(self) -> ProviderMetadata | None:
        """The last good document, without fetching (None before the first one)."""
        return self._metadata

    def _fetch(self) -> ProviderMetadata:
        check_url("issuer", self.issuer, allow_http=self._allow_http)
        document = _http.get_json(self._http, self.url, what="discovery", timeout=self._timeout)
        return ProviderMetadata.from_document(
            document, issuer=self.issuer, allow_http=self._allow_http
        )
