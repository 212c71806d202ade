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
4. one ``security_event.received`` event on the audit trail (:mod:`loginsite.operations.audit`)
   for every delivery (its type, sub, jti, the action, the outcome and why), never the token or
   an email address.

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
from loginsite.operations import audit
from loginsite.revocation import RevocationStore, RevocationUnavailable, revoke_user
from loginsite.settings import SecurityEventSettings

log = logging.getLogger(__name__)
_NO_ORIGIN = audit.Origin(component="security_events")

__all__ = ["Receipt", "SecurityEventReceiver"]

SESSIONS_ENDED = "sessions_ended"
RECORDED = "recorded"


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

    def receive(self, token: str, *, origin: audit.Origin = _NO_ORIGIN) -> Receipt:
        """``origin``: the delivery's request, for the logs and the audit trail."""
        request_id = origin.request_id
        try:
            event = self._verifier.verify(token)
        except SecurityEventError as exc:
            return self.refuse(exc.err, exc.description, origin=origin)
        except OIDCError as exc:
            log.warning(
                "security_event.unverifiable reason=%s request_id=%s", exc.reason, request_id
            )
            self._audit(origin, None, "none", "unverifiable", detail=audit.code(type(exc).__name__))
            return Receipt(503, description="the provider's signing keys could not be fetched")
        # Remembered for as long as the SET could still verify.
        if not self._store.claim_once(_replay_key(event.jti), event.expires_at + self._leeway):
            log.warning(
                "security_event.refused err=invalid_request reason=jti already received "
                "request_id=%s",
                request_id,
            )
            self._audit(origin, event, "none", "replayed")
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
            self._audit(origin, event, action, "revocation_unavailable")
            return Receipt(503, description="the action could not be recorded")
        self._audit(origin, event, action, outcome)
        return Receipt(202)

    def refuse(self, err: str, description: str, *, origin: audit.Origin = _NO_ORIGIN) -> Receipt:
        """A delivery that is not a SET we accept: one log line with the reason, one audit."""
        log.warning(
            "security_event.refused err=%s reason=%s request_id=%s",
            err,
            description,
            origin.request_id,
        )
        self._audit(origin, None, "none", err)  # err: an RFC 8935 code
        return Receipt(400, err, description)

    def _apply(self, event: SecurityEvent, action: str) -> str:
        """What was done, as the audit reason: ``sessions_ended`` and ``recorded`` are
        successes, the others say why the configured action could not be carried out."""
        if action != END_SESSIONS:
            return RECORDED
        if event.sub is None:
            return "no_sub"  # an email subject: loginsite keeps no email-to-user index
        if not self._acts:
            return "revocation_store_none"
        revoke_user(self._store, event.sub, max_age=self._max_age)
        return SESSIONS_ENDED

    def _audit(
        self,
        origin: audit.Origin,
        event: SecurityEvent | None,
        action: str,
        reason: str,
        detail: str | None = None,
    ) -> None:
        audit.record(
            "security_event.received",
            audit.SUCCESS if reason in (SESSIONS_ENDED, RECORDED) else audit.FAILURE,
            reason,
            origin,
            detail=detail,
            sub=None if event is None else event.sub,
            set_type=None if event is None else event.name[:128],
            set_jti=None if event is None else event.jti[:64],
            action=action,
        )


def _replay_key(jti: str) -> str:
    """A fixed-length, charset-safe key for the store (the jti itself is the issuer's text)."""
    return "set:" + hashlib.sha256(jti.encode()).hexdigest()[:32]
