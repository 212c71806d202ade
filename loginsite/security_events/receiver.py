"""What happens to a Security Event Token once it has arrived: verify, refuse replays, act, audit.

Independent of Pyramid: the view hands over the token text and turns the :class:`Receipt` into
an HTTP answer. The order matters:

1. verify (:class:`~loginsite.oidc.security_event.SecurityEventVerifier`);
2. claim the ``jti`` in the shared store (``claim_once``, remembered until the SET's ``exp``),
   so a replay is refused by every instance, and two deliveries of one SET never both act;
3. apply the configured action: ``end-sessions`` records a per-user not-before through the
   revocation store, which is durable when it returns (the redis store's sqlite journal, then
   Redis), so the 202 is only sent once the action survives a Redis outage or a kill -9;
   ``record`` only writes the audit line;
4. one audit line on the ``loginsite.audit`` logger for every delivery (type, sub, jti, action,
   outcome), never the token or an email address.

If the store cannot record the revocation at all (``RevocationUnavailable``) the answer is 503
and an error line tells the operator to end the sessions by hand (``loginsite-revoke --sub``):
login.gov retries only on network errors and never resends after an error answer, so the
event cannot come back, but answering 202 would claim an action that did not happen.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from loginsite.oidc import OIDCError
from loginsite.oidc.security_event import (
    END_SESSIONS,
    SecurityEvent,
    SecurityEventError,
    SecurityEventVerifier,
)
from loginsite.revocation import RevocationStore, RevocationUnavailable, revoke_user
from loginsite.settings import SecurityEventSettings

log = logging.getLogger(__name__)
audit = logging.getLogger("loginsite.audit")

__all__ = ["Receipt", "SecurityEventReceiver"]


@dataclass(frozen=True)
class Receipt:
    """The answer owed to the transmitter: 202, 400 with an RFC 8935 error, or 503."""

    status: int
    err: str | None = None
    description: str | None = None


class SecurityEventReceiver:
    """Shared by every request; thread-safe because its parts are."""

    def __init__(
        self,
        verifier: SecurityEventVerifier,
        store: RevocationStore,
        settings: SecurityEventSettings,
        *,
        max_age: int,
        leeway: int,
        acts: bool = True,
    ) -> None:
        self._verifier = verifier
        self._store = store
        self._settings = settings
        self._max_age = max_age
        self._leeway = leeway
        # False with the "none" revocation store: it cannot end sessions, so say so.
        self._acts = acts

    def receive(self, token: str, *, request_id: str = "-") -> Receipt:
        try:
            event = self._verifier.verify(token)
        except SecurityEventError as exc:
            return self.refuse(exc.err, exc.description, request_id=request_id)
        except OIDCError as exc:
            log.warning(
                "security_event.unverifiable reason=%s request_id=%s", exc.reason, request_id
            )
            self._audit(None, "none", f"unverifiable:{type(exc).__name__}", request_id)
            return Receipt(503, description="the provider's signing keys could not be fetched")
        # Remembered for as long as the SET could still verify.
        if not self._store.claim_once(_replay_key(event.jti), event.expires_at + self._leeway):
            log.warning(
                "security_event.refused err=invalid_request reason=jti already received "
                "request_id=%s",
                request_id,
            )
            self._audit(event, "none", "refused:replayed", request_id)
            return Receipt(400, "invalid_request", "this SET (its jti) was already received")
        action = self._settings.action_for(event.event_type)
        try:
            outcome = self._apply(event, action)
        except RevocationUnavailable as exc:
            log.error(
                "security_event.not_applied type=%s sub=%s reason=%s request_id=%s: end the "
                "user's sessions by hand with loginsite-revoke --sub",
                event.name,
                event.sub,
                exc,
                request_id,
            )
            self._audit(event, action, "failed:revocation-unavailable", request_id)
            return Receipt(503, description="the action could not be recorded")
        self._audit(event, action, outcome, request_id)
        return Receipt(202)

    def refuse(self, err: str, description: str, *, request_id: str = "-") -> Receipt:
        """A delivery that is not a SET we accept: one log line with the reason, one audit."""
        log.warning(
            "security_event.refused err=%s reason=%s request_id=%s", err, description, request_id
        )
        self._audit(None, "none", f"refused:{err}", request_id)
        return Receipt(400, err, description)

    def _apply(self, event: SecurityEvent, action: str) -> str:
        if action != END_SESSIONS:
            return "recorded"
        if event.sub is None:
            return f"not-applied:{event.subject_type}-subject-has-no-sub"
        if not self._acts:
            return "not-applied:revocation-store-none"
        revoke_user(self._store, event.sub, max_age=self._max_age)
        return "sessions-ended"

    def _audit(
        self, event: SecurityEvent | None, action: str, outcome: str, request_id: str
    ) -> None:
        audit.info(
            "security_event type=%s sub=%s jti=%s action=%s outcome=%s request_id=%s",
            event.name if event else "-",
            (event.sub or "-") if event else "-",
            event.jti[:64] if event else "-",
            action,
            outcome,
            request_id,
        )


def _replay_key(jti: str) -> str:
    """A fixed-length, charset-safe key for the store (the jti itself is the issuer's text)."""
    return "set:" + hashlib.sha256(jti.encode()).hexdigest()[:32]
