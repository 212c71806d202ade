"""The Pyramid security policy: identity from the session cookie, permissions from ACLs.

Reads like the wiki2 tutorial's policy: a cookie helper (:mod:`.cookie`) identifies, remembers
and forgets; the identity is loaded once per request through a request-local cache (kept in the
environ, see :mod:`.request_cache`) and checked against the revocation list; permissions go
through ``ACLHelper``. What the response owes the session is recorded in its plan
(:mod:`.response_plan`). Every failure of a presented cookie makes the request anonymous, clears
the cookie and logs why; nothing a client sends can raise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyramid.authorization import DENY_ALL, ACLHelper, Allow, Authenticated, Everyone
from pyramid.interfaces import ISecurityPolicy
from zope.interface import implementer

from loginsite.operations import audit
from loginsite.operations.metrics import count_session_refusal
from loginsite.session.cookie import SessionCookieHelper
from loginsite.session.request_cache import EnvironRequestCache
from loginsite.session.response_plan import NO_HEADERS, Headers, owe
from loginsite.session.token import InvalidSession, SessionCodec, SessionToken, SessionTooLarge
from loginsite.settings import ACR_AUTH_ONLY, ACR_VERIFIED, SessionSettings

if TYPE_CHECKING:
    from pyramid.request import Request

    from loginsite.revocation import RevocationStore

log = logging.getLogger(__name__)

_IDENTITY_KEY = "loginsite.session.identity"
# Set when a valid-looking session could not be checked against the revocation list.
SESSION_UNVERIFIABLE = "loginsite.session.unverifiable"


def user_principal(sub: str) -> str:
    return f"user:{sub}"


def acr_principal(acr: str) -> str:
    """The assurance level is a principal, so an ACL can demand identity verification."""
    return f"acr:{acr}"


#: The two permissions the policy grants by itself, in any context (loginsite.auth.permissions).
SIGNED_IN = "loginsite.signed_in"
VERIFIED = "loginsite.verified"
SIGNED_IN_PRINCIPAL = Authenticated
VERIFIED_PRINCIPAL = acr_principal(ACR_VERIFIED)
#: Who has them: ready ACL entries for an app's own resources, too.
LOGINSITE_ACL = ((Allow, SIGNED_IN_PRINCIPAL, SIGNED_IN), (Allow, VERIFIED_PRINCIPAL, VERIFIED))


class _LoginsitePermissions:
    """The context :data:`SIGNED_IN` and :data:`VERIFIED` are checked against."""

    __acl__ = [*LOGINSITE_ACL, DENY_ALL]


_LOGINSITE_PERMISSIONS = _LoginsitePermissions()


@implementer(ISecurityPolicy)
class SessionSecurityPolicy:
    """Stateless sessions in a signed JWT cookie, with an optional revocation list."""

    def __init__(
        self,
        settings: SessionSettings,
        revocations: RevocationStore | None = None,
        *,
        clock: Callable[[], float] = time.time,
        response_tween: bool = False,
    ) -> None:
        """``response_tween``: the session tween (``includeme`` adds it) applies each response's
        plan; without it, each request that consults the session registers a response callback.
        """
        self.settings = settings
        self.helper = SessionCookieHelper.from_settings(settings, clock=clock)
        self.revocations = revocations
        self.identity_cache = EnvironRequestCache(self.load_identity, _IDENTITY_KEY)
        self.acl = ACLHelper()
        self._response_tween = response_tween

    @property
    def codec(self) -> SessionCodec:
        return self.helper.codec

    @codec.setter
    def codec(self, codec: SessionCodec) -> None:
        self.helper.codec = codec

    @property
    def cookie_name(self) -> str:
        return self.helper.cookie_name

    def load_identity(self, request: Request) -> SessionToken | None:
        self._owe(request, NO_HEADERS)  # the response depends on the cookie, whatever it holds
        try:
            token = self.helper.identify(request)
        except InvalidSession as exc:
            # Who it was, if this app signed it (an expired one); a forgery names no one.
            return self._refuse(request, exc.reason, self.signed_session(request))
        if token is None:
            return None
        if self.revocations is not None:
            try:
                revoked = self.revocations.is_revoked(
                    token.session_id, token.sub, token.signed_in_at
                )
            except Exception as exc:  # fail closed on any trouble with the store
                # The list cannot be trusted right now: anonymous, but keep the cookie so the
                # session comes back when the list does.
                reason = f"revocation list unavailable ({type(exc).__name__})"
                _log_refusal(request, reason, token, level=logging.WARNING)
                request.environ[SESSION_UNVERIFIABLE] = True
                return None
            if revoked:
                return self._refuse(request, "session revoked", token)
        try:
            reissued = self.helper.reissue(token)
        except SessionTooLarge as exc:  # only a token the app did not mint itself
            return self._refuse(request, f"renewal too large ({exc.size} bytes)", token)
        if reissued is not None:
            header, token = reissued
            self._owe(request, (header,))
        return token

    # ISecurityPolicy

    def identity(self, request: Request) -> SessionToken | None:
        return self.identity_cache.get_or_create(request)

    def authenticated_userid(self, request: Request) -> str | None:
        identity = self.identity_cache.get_or_create(request)
        return None if identity is None else identity.sub

    def remember(
        self,
        request: Request,
        userid: str,
        *,
        email: str | None = None,
        acr: str = ACR_AUTH_ONLY,
        **kw: Any,
    ) -> list[tuple[str, str]]:
        """Start a brand-new session; a cookie that existed before sign-in is never reused.

        Raises :class:`~loginsite.session.token.SessionTooLarge` for an identity too large for
        a cookie: the caller refuses the sign-in.
        """
        headers, token = self.helper.remember(request, userid, email=email, acr=acr)
        self._owe(request, NO_HEADERS)  # the headers returned here are the last word
        self.identity_cache.set(request, token)
        return headers

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        self._owe(request, NO_HEADERS)  # the headers returned here are the last word
        self.identity_cache.set(request, None)
        return self.helper.forget(request)

    def permits(self, request: Request, context: Any, permission: str) -> Any:
        """loginsite's two permissions mean the same everywhere (a route with no factory has
        no ACL); any other is the context's ACL's to grant."""
        if permission in (SIGNED_IN, VERIFIED):
            context = _LOGINSITE_PERMISSIONS
        return self.acl.permits(context, self.effective_principals(request), permission)

    def effective_principals(self, request: Request) -> list[str]:
        identity = self.identity(request)
        if identity is None:
            return [Everyone]
        return [Everyone, Authenticated, user_principal(identity.sub), acr_principal(identity.acr)]

    # Beyond ISecurityPolicy: what sign-out and a session-replacing sign-in revoke.

    def signed_session(self, request: Request) -> SessionToken | None:
        """The session the request's cookie names if this app signed it, whatever else is wrong
        with it: idle-expired, past its deadline, revoked, or the list unavailable.

        Revoking it whenever the signature verifies means a sign-out is never lost to an outage
        or a stale tab. A cookie that does not verify names nothing (and revokes nothing).
        """
        try:
            return self.helper.signed(request)
        except InvalidSession:
            return None

    # Internals

    def _refuse(self, request: Request, reason: str, token: SessionToken | None) -> None:
        """Anonymous, and the response deletes the cookie."""
        _log_refusal(request, reason, token)
        self._owe(request, (self.helper.delete_cookie_header(),))

    def _owe(self, request: Request, headers: Headers) -> None:
        owe(request, headers, self._response_tween)


#: The audit trail's reason for each refusal (by the start of its log reason); else ``invalid``.
_AUDIT_REASONS = (
    ("absolute deadline passed", "expired"),
    ("idle timeout passed", "idle"),
    ("session revoked", "revoked"),
    ("revocation list unavailable", "unverifiable"),
    ("bad signature", "tampered"),
    ("unknown key id", "unknown_key"),
    ("signing key no longer in the ring", "unknown_key"),
)


def _log_refusal(
    request: Request, reason: str, token: SessionToken | None, level: int = logging.INFO
) -> None:
    """Why a presented session was not accepted; never the token itself."""
    count_session_refusal(request, reason)
    sub = None if token is None else token.sub
    log.log(
        level,
        "session.refused reason=%s sub=%s request_id=%s",
        reason,
        sub or "-",
        getattr(request, "request_id", "-"),  # loginsite.web's request method, if installed
    )
    audit.record(
        "session.refused",
        audit.FAILURE,
        next((code for start, code in _AUDIT_REASONS if reason.startswith(start)), "invalid"),
        audit.origin_of(request, "session"),
        detail=audit.code(reason),
        sub=sub,
        sid=None if token is None else token.session_id,
    )
