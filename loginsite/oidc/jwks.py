"""The provider's id_token signing keys (its JWKS), fetched from discovery's ``jwks_uri``.

Keys are chosen by the token's ``kid`` only; ``jwk``/``jku``/``x5u``/``x5c`` headers are never
consulted (the id_token validator refuses tokens carrying them). When a token names a ``kid`` we do
not hold, the provider may have rotated its keys, so the JWKS is fetched again, but at most once
every ``refetch_interval`` seconds: otherwise anyone could make us hammer the provider by sending
made-up kids. Entries we cannot use (other key types, other algorithms, encryption keys, RSA keys
under 2048 bits, broken entries) are skipped, not fatal. A token without ``kid`` is accepted only
when the JWKS holds exactly one usable signing key.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
import requests

from . import _http
from .errors import InvalidIdToken, ProviderError
from .metadata import CacheState
from .single_flight import FAILURE_TTL, SingleFlight

__all__ = ["ProviderKeys", "usable_signing_keys"]

ALGORITHM = "RS256"
MIN_RSA_BITS = 2048


def usable_signing_keys(document: dict[str, Any]) -> list[jwt.PyJWK]:
    """The RS256 signing keys of a JWKS document, skipping whatever we cannot use."""
    entries = document.get("keys")
    if not isinstance(entries, list):
        raise ProviderError("jwks: document has no 'keys' list", answer_refused=True)
    keys: list[jwt.PyJWK] = []
    for entry in entries:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        if entry.get("use", "sig") != "sig" or entry.get("alg", ALGORITHM) != ALGORITHM:
            continue
        key_ops = entry.get("key_ops")
        if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
            continue
        kid = entry.get("kid")
        if kid is not None and not isinstance(kid, str):
            continue
        try:
            key = jwt.PyJWK(entry, algorithm=ALGORITHM)
        except (jwt.PyJWTError, ValueError, TypeError):
            continue
        if getattr(key.key, "key_size", 0) < MIN_RSA_BITS:
            continue
        keys.append(key)
    return keys


class ProviderKeys:
    """Caches the JWKS and hands out the verification key for a ``kid``."""

    def __init__(
        self,
        *,
        http: requests.Session,
        timeout: float,
        ttl: float = 3600.0,
        refetch_interval: float = 60.0,
        clock: Callable[[], float] = time.time,
        gate: _http.ProviderGate | None = None,
        failure_ttl: float = FAILURE_TTL,
    ) -> None:
        self._http = _http.guarded(http, timeout)
        self._timeout = timeout
        self._ttl = ttl
        self._refetch_interval = refetch_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._uri: str | None = None
        self._keys: list[jwt.PyJWK] = []
        self._fetched_at: float | None = None
        self._last_attempt_at: float | None = None  # last refetch caused by an unknown kid
        # Concurrent fetches share one; a failed one is remembered for a few seconds.
        self._flight: SingleFlight[list[jwt.PyJWK]] = SingleFlight(
            what="jwks", wait_limit=2 * timeout + 1, gate=gate, failure_ttl=failure_ttl, clock=clock
        )

    def signing_key(self, jwks_uri: str, kid: str | None) -> jwt.PyJWK:
        """The key to verify with; InvalidIdToken if none fits, Provider* on fetch trouble."""
        now = self._clock()
        with self._lock:
            uri, keys, fetched_at = self._uri, self._keys, self._fetched_at
        fetched_now = False
        if uri != jwks_uri or fetched_at is None or now - fetched_at >= self._ttl:
            keys = self._fetch(jwks_uri, now)
            fetched_now = True
        found = self._select(keys, kid)
        if found is not None:
            return found
        if kid is None:
            raise InvalidIdToken(
                f"id_token has no kid and the JWKS holds {len(keys)} usable signing keys"
            )
        if not fetched_now:
            with self._lock:
                last = self._last_attempt_at
                if last is not None and now - last < self._refetch_interval:
                    raise InvalidIdToken(
                        f"id_token kid {_http.safe_text(kid, 64)!r} is unknown "
                        "(JWKS refetch is rate-limited)"
                    )
                # Count the attempt before making it, so failed refetches are limited too.
                self._last_attempt_at = now
            keys = self._fetch(jwks_uri, now)
            found = self._select(keys, kid)
            if found is not None:
                return found
        raise InvalidIdToken(f"id_token kid {_http.safe_text(kid, 64)!r} is not in the JWKS")

    def state(self) -> CacheState:
        """A read-only look at the cache (see :class:`CacheState`); never fetches anything."""
        with self._lock:
            keys, fetched_at = self._keys, self._fetched_at
        if fetched_at is None or not keys:
            return CacheState("missing", None, False)
        age = self._clock() - fetched_at
        return CacheState("fresh" if age < self._ttl else "stale", age, False)

    @staticmethod
    def _select(keys: list[jwt.PyJWK], kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return keys[0] if len(keys) == 1 else None
        return next((key for key in keys if key.key_id == kid), None)

    def _fetch(self, jwks_uri: str, now: float) -> list[jwt.PyJWK]:
        def fetch() -> list[jwt.PyJWK]:
            document = _http.get_json(self._http, jwks_uri, what="jwks", timeout=self._timeout)
            keys = usable_signing_keys(document)
            with self._lock:
                self._uri, self._keys, self._fetched_at = jwks_uri, keys, now
            return keys

        return self._flight.run(jwks_uri, fetch)
