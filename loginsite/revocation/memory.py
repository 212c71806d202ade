"""A revocation store for a single process.

Entries live only in this process's memory: they are lost on restart and unseen by any other
worker or server, so a cookie revoked here is still accepted by a sibling process. Fine for
development and single-process deployments; use the redis store when several processes serve
the site.
"""

from __future__ import annotations

import time

from loginsite.revocation.lifetime import EntryLifetime
from loginsite.revocation.store import Clock, LocalClaims, RevocationList, RevocationStatus

#: Without settings: the default session idle timeout and clock skew.
DEFAULT_LIFETIME = EntryLifetime(idle_timeout=900, propagation=0.0, clock_skew=5)


class MemoryRevocationStore:
    """Thread-safe; every call is a dictionary lookup. This process is its own shared store,
    so an entry's lifetime counts from the revocation itself."""

    def __init__(
        self, *, clock: Clock = time.time, lifetime: EntryLifetime = DEFAULT_LIFETIME
    ) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._list = RevocationList(clock=clock)
        self._claims = LocalClaims(clock=clock)

    def is_revoked(self, session_id: str, sub: str, signed_in_at: int) -> bool:
        return self._list.is_revoked(session_id, sub, signed_in_at)

    def revoke_session(self, session_id: str, expires_at: int) -> None:
        self._list.add_session(session_id, self._lifetime.expires_at(expires_at, self._clock()))

    def revoke_user(self, sub: str, not_before: int, expires_at: int) -> None:
        until = self._lifetime.expires_at(expires_at, self._clock())
        self._list.add_user(sub, not_before, until)

    def status(self) -> RevocationStatus:
        return RevocationStatus.local(len(self._list))

    def claim_once(self, key: str, expires_at: int) -> bool:
        return self._claims.claim_once(key, expires_at)

    def close(self) -> None:
        """Nothing to release."""

    def __len__(self) -> int:
        return len(self._list)
