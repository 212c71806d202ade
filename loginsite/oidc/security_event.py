"""Verifying the Security Event Tokens (SETs, RFC 8417) login.gov pushes (RFC 8935).

login.gov tells its partners that an account was disabled, deleted, locked, reset... by POSTing
a SET to the partner's registered ``push_notification_url``. The SET is a JWT signed with the
same keys as login.gov's id_tokens, so it is held to the same standard: RS256 only, the key
chosen by ``kid`` from the provider's JWKS (one rate-limited refetch on an unknown kid), no key
pointers in the header, ``typ`` exactly ``secevent+jwt`` (so an id_token or any other JWT of
the provider never passes as a SET), ``iss`` exactly the issuer, ``aud`` this endpoint,
``iat``/``exp`` with leeway, a ``jti``, and exactly one event.

What login.gov sends (18F/identity-idp ``app/services/push_notification/``): most events name
their subject ``{"subject_type": "iss-sub", "iss": ROOT_URL, "sub": PAIRWISE_UUID}``, the same
``sub`` as at sign-in. ``identifier-changed`` and ``identifier-recycled`` name an email address
instead (``subject_type: "email"``): such a SET verifies, but carries no ``sub`` to act on, and
the address is never kept or logged.

Every refusal is a :class:`SecurityEventError` whose ``err`` is an RFC 8935 error code and
whose ``description`` says which rule failed, without the token. Trouble fetching the provider's
keys is an :class:`~loginsite.oidc.errors.OIDCError` (502/503/504), not the SET's fault.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from loginsite.strict_jwt import RefusedToken, decode_strict

from . import _http
from .errors import InvalidIdToken
from .jwks import ProviderKeys
from .metadata import ProviderMetadataCache

__all__ = [
    "DEFAULT_ACTIONS",
    "END_SESSIONS",
    "EVENT_TYPES",
    "MAX_SET_LENGTH",
    "RECORD",
    "SET_TYPE",
    "SecurityEvent",
    "SecurityEventError",
    "SecurityEventVerifier",
    "event_type_name",
]

SET_TYPE = "secevent+jwt"
SET_ALGORITHM = "RS256"
#: A login.gov SET is about 1 KB; anything much larger is not one.
MAX_SET_LENGTH = 8192
#: login.gov's SETs live 12 hours; a longer-lived one would pin its jti in the replay cache.
MAX_SET_LIFETIME = 24 * 3600
MAX_EVENT_TYPE_LENGTH = 256

RISC = "https://schemas.openid.net/secevent/risc/event-type/"
LOGIN_GOV = "https://schemas.login.gov/secevent/risc/event-type/"

#: The events login.gov sends, by their short name.
EVENT_TYPES: Mapping[str, str] = {
    "account-disabled": RISC + "account-disabled",
    "account-enabled": RISC + "account-enabled",
    "account-purged": RISC + "account-purged",
    "identifier-changed": RISC + "identifier-changed",
    "identifier-recycled": RISC + "identifier-recycled",
    "recovery-activated": RISC + "recovery-activated",
    "recovery-information-changed": RISC + "recovery-information-changed",
    "password-reset": LOGIN_GOV + "password-reset",
    "mfa-limit-account-locked": LOGIN_GOV + "mfa-limit-account-locked",
    "reproof-completed": LOGIN_GOV + "reproof-completed",
}

END_SESSIONS = "end-sessions"
RECORD = "record"
ACTIONS = (END_SESSIONS, RECORD)

#: What each event does unless ``loginsite.security_events.actions`` says otherwise. Events
#: that mean someone else may hold the account (or it is gone) end its sessions; the others
#: change nothing a session relies on, so they are recorded only.
DEFAULT_ACTIONS: Mapping[str, str] = {
    EVENT_TYPES["account-disabled"]: END_SESSIONS,
    EVENT_TYPES["account-purged"]: END_SESSIONS,
    EVENT_TYPES["mfa-limit-account-locked"]: END_SESSIONS,
    EVENT_TYPES["password-reset"]: END_SESSIONS,
    EVENT_TYPES["recovery-activated"]: END_SESSIONS,
    EVENT_TYPES["identifier-recycled"]: END_SESSIONS,
    EVENT_TYPES["account-enabled"]: RECORD,
    EVENT_TYPES["identifier-changed"]: RECORD,
    EVENT_TYPES["recovery-information-changed"]: RECORD,
    EVENT_TYPES["reproof-completed"]: RECORD,
}

# The RFC 8935 error and the description for each rule of loginsite.strict_jwt.
_REFUSALS = {
    "size": ("invalid_request", "the body is not a compact JWS"),
    "malformed": ("invalid_request", "the JWT header is malformed ({})"),
    "alg": ("invalid_key", "alg {!r} is not " + SET_ALGORITHM),
    "key_pointer": ("invalid_key", "the header carries {!r}; keys come from the JWKS only"),
    "crit": ("invalid_request", "critical header extensions are refused"),
    "typ": ("invalid_request", "typ {!r} is not " + repr(SET_TYPE)),
    "kid": ("invalid_key", "kid is not a string"),
    "signature": ("authentication_failed", "the signature does not verify"),
    "missing": ("invalid_request", "the {!r} claim is missing"),
}
# jti and sub end up in log lines and store keys: printable ASCII without spaces only.
_TOKEN_TEXT = re.compile(r"^[\x21-\x7e]{1,256}$")
_SHORT_NAMES = {uri: name for name, uri in EVENT_TYPES.items()}


def event_type_name(event_type: str) -> str:
    """The short name of a known event type, for logs; an unknown one as it came, bounded."""
    return _SHORT_NAMES.get(event_type) or _http.safe_text(event_type, MAX_EVENT_TYPE_LENGTH)


class SecurityEventError(Exception):
    """A SET we refuse; ``err`` is the RFC 8935 error code, ``description`` the rule."""

    def __init__(self, err: str, description: str) -> None:
        super().__init__(f"{err}: {description}")
        self.err = err
        self.description = description


def _refusal(exc: RefusedToken) -> SecurityEventError:
    err, description = _REFUSALS.get(exc.rule, ("invalid_request", "the SET is invalid ({})"))
    return SecurityEventError(err, description.format(exc.found or exc.reason))


@dataclass(frozen=True)
class SecurityEvent:
    """A verified SET: one event about one subject."""

    event_type: str
    jti: str
    subject_type: str
    sub: str | None  # None when the subject is not iss-sub (an email address: not kept)
    issued_at: int
    expires_at: int
    reason: str | None = None

    @property
    def name(self) -> str:
        return event_type_name(self.event_type)


class SecurityEventVerifier:
    """Verifies SETs from the provider; shares the sign-in client's discovery and JWKS caches."""

    def __init__(
        self,
        *,
        metadata: ProviderMetadataCache,
        keys: ProviderKeys,
        audiences: tuple[str, ...],
        leeway: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not audiences:
            raise ValueError("a SET verifier needs the audience it answers to")
        self._metadata = metadata
        self._keys = keys
        self._audiences = audiences
        self._leeway = leeway
        self._clock = clock

    def verify(self, token: str) -> SecurityEvent:
        """The verified event; SecurityEventError naming the rule, or OIDCError on key trouble."""
        if not token or len(token) > MAX_SET_LENGTH or token.count(".") != 2:
            raise SecurityEventError("invalid_request", "the body is not a compact JWS")
        claims = self._claims(token)
        return self._event(claims, self._metadata.get().issuer)

    def _signing_key(self, kid: str | None) -> Any:
        try:
            return self._keys.signing_key(self._metadata.get().jwks_uri, kid).key
        except InvalidIdToken as exc:
            raise SecurityEventError("invalid_key", exc.reason.replace("id_token", "SET")) from None

    def _claims(self, token: str) -> dict[str, Any]:
        # The header rules (RFC 8725) and the signature: loginsite.strict_jwt, as for every
        # token loginsite reads; the key is looked up (and discovery read) only once the
        # header has passed. Times are checked below against this verifier's clock.
        try:
            _, claims = decode_strict(
                token,
                algorithm=SET_ALGORITHM,
                typ=SET_TYPE,
                max_length=MAX_SET_LENGTH,
                key_for=self._signing_key,
                required=("iss", "aud", "iat", "exp", "jti", "events"),
            )
        except RefusedToken as exc:
            raise _refusal(exc) from None
        issuer = self._metadata.get().issuer
        if claims["iss"] != issuer:
            raise SecurityEventError("invalid_issuer", "iss is not the provider's issuer")
        for name in ("iat", "exp"):
            value = claims[name]
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise SecurityEventError("invalid_request", f"{name} is not a number")
        now = self._clock()
        if claims["exp"] <= now - self._leeway:
            raise SecurityEventError("invalid_request", "the SET has expired (exp)")
        if claims["iat"] > now + self._leeway:
            raise SecurityEventError("invalid_request", "iat is in the future")
        nbf = claims.get("nbf")
        if nbf is not None and (
            not isinstance(nbf, int | float) or isinstance(nbf, bool) or nbf > now + self._leeway
        ):
            raise SecurityEventError("invalid_request", "the SET is not valid yet (nbf)")
        if claims["exp"] - claims["iat"] > MAX_SET_LIFETIME:
            raise SecurityEventError(
                "invalid_request", f"exp is more than {MAX_SET_LIFETIME} seconds after iat"
            )
        aud = claims["aud"]
        audiences = aud if isinstance(aud, list) else [aud]
        if not any(isinstance(a, str) and a in self._audiences for a in audiences):
            raise SecurityEventError(
                "invalid_audience", f"aud is not this endpoint ({self._audiences[0]})"
            )
        jti = claims["jti"]
        if not isinstance(jti, str) or not _TOKEN_TEXT.match(jti):
            raise SecurityEventError("invalid_request", "jti is not 1-256 printable characters")
        return claims

    def _event(self, claims: dict[str, Any], issuer: str) -> SecurityEvent:
        events = claims["events"]
        if not isinstance(events, dict) or len(events) != 1:
            count = len(events) if isinstance(events, dict) else "no"
            raise SecurityEventError(
                "invalid_request", f"events must hold exactly one event, not {count}"
            )
        ((event_type, payload),) = events.items()
        if not event_type or len(event_type) > MAX_EVENT_TYPE_LENGTH:
            raise SecurityEventError("invalid_request", "the event type is empty or too long")
        if not isinstance(payload, dict) or not isinstance(payload.get("subject"), dict):
            raise SecurityEventError("invalid_request", "the event has no subject object")
        subject = payload["subject"]
        subject_type = subject.get("subject_type")
        sub: str | None = None
        if subject_type == "iss-sub":
            # login.gov's code sends its root URL (with the slash, like the issuer); its
            # documentation shows it without. Either names the same issuer.
            if subject.get("iss") not in (issuer, issuer.rstrip("/")):
                raise SecurityEventError(
                    "invalid_request", "the subject's iss is not the provider's issuer"
                )
            sub = subject.get("sub")
            if not isinstance(sub, str) or not _TOKEN_TEXT.match(sub):
                raise SecurityEventError(
                    "invalid_request", "the subject's sub is not 1-256 printable characters"
                )
        elif subject_type == "email":
            if not isinstance(subject.get("email"), str):
                raise SecurityEventError("invalid_request", "the email subject has no email")
        else:
            raise SecurityEventError(
                "invalid_request",
                f"subject_type {_http.safe_text(subject_type, 32)!r} is not iss-sub or email",
            )
        reason = payload.get("reason")
        return SecurityEvent(
            event_type=event_type,
            jti=claims["jti"],
            subject_type=subject_type,
            sub=sub,
            issued_at=int(claims["iat"]),
            expires_at=int(claims["exp"]),
            reason=_http.safe_text(reason, 64) if isinstance(reason, str) else None,
        )
