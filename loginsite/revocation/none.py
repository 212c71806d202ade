"""A revocation store that revokes nothing.

RISK: with this store, signing out only deletes the cookie from the browser that signed out.
Any copy of that cookie (stolen, or left in another tab or device) stays valid until its idle
or absolute deadline, and "sign out everywhere" does nothing. Choose it only where that is an
accepted risk (e.g. benchmarks), never as a way around a Redis outage.
"""

from __future__ import annotations

from loginsite.revocation.store import LocalClaims, RevocationStatus


class NoRevocationStore:
    """``is_revoked`` is always False and the ``revoke_*`` methods do nothing (see above).

    ``claim_once`` still works, per process: refusing a replayed Security Event Token costs
    nothing and is not a revocation.
    """

    def __init__(self) -> None:
        self._claims = LocalClaims()

    def is_revoked(self, session_id: str, sub: str, signed_in_at: int) -> bool:
        return False

    def revoke_session(self, session_id: str, expires_at: int) -> None:
        """Does nothing: the session stays valid until its own deadline."""

    def revoke_user(self, sub: str, not_before: int, expires_at: int) -> None:
        """Does nothing: the user's sessions stay valid until their own deadlines."""

    def claim_once(self, key: str, expires_at: int) -> bool:
        return self._claims.claim_once(key, expires_at)

    def status(self) -> RevocationStatus:
        """Always ready: there is nothing to sync."""
        return RevocationStatus.local(0)

    def close(self) -> None:
        """Nothing to release."""
