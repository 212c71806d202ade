"""The development provider's memory: authorization codes, access tokens, used assertion ids.

Everything lives in this process and is lost on restart, which is fine for one developer: a
restart only cancels sign-ins in flight. Thread-safe, because waitress serves on several threads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field


@dataclass
class Grant:
    """What the user approved on the authorization page, waiting to be exchanged for tokens."""

    client_id: str
    redirect_uri: str
    scope: tuple[str, ...]
    acr: str
    nonce: str
    code_challenge: str | None
    email: str
    sub: str
    issued_at: float
    used: bool = False
    access_tokens: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class AccessToken:
    sub: str
    email: str
    acr: str
    scope: tuple[str, ...]
    expires_at: float


class MemoryStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._codes: dict[str, Grant] = {}
        self._tokens: dict[str, AccessToken] = {}
        self._jtis: dict[str, float] = {}

    def put_code(self, code: str, grant: Grant) -> None:
        with self._lock:
            self._codes[code] = grant

    def claim_code(self, code: str) -> tuple[Grant | None, bool]:
        """Mark the code used and return ``(grant, first_use)``; ``(None, False)`` if unknown."""
        with self._lock:
            grant = self._codes.get(code)
            if grant is None:
                return None, False
            first_use = not grant.used
            grant.used = True
            return grant, first_use

    def put_token(self, token: str, access: AccessToken, grant: Grant | None = None) -> None:
        with self._lock:
            self._tokens[token] = access
            if grant is not None:
                grant.access_tokens.append(token)

    def get_token(self, token: str) -> AccessToken | None:
        with self._lock:
            return self._tokens.get(token)

    def revoke_grant_tokens(self, grant: Grant) -> None:
        """A code presented twice: whoever holds its tokens may be an attacker (RFC 6749 4.1.2)."""
        with self._lock:
            for token in grant.access_tokens:
                self._tokens.pop(token, None)

    def remember_jti(self, jti: str, expires_at: float, now: float) -> bool:
        """Record a client assertion id; False if it was seen before and has not expired."""
        with self._lock:
            for old in [j for j, exp in self._jtis.items() if exp < now]:
                del self._jtis[old]
            if jti in self._jtis:
                return False
            self._jtis[jti] = expires_at
            return True
