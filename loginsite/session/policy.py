"""The Pyramid security policy: identity from the session cookie, permissions from ACLs.

Shaped like the wiki2 tutorial's policy: identity cached per request with a ``RequestLocalCache``
(one kept in the environ, see :mod:`.request_cache`), permissions through ``ACLHelper``. Every
failure of a presented cookie makes the request anonymous, clears the cookie and logs why; nothing
a client sends can raise.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pyramid.authorization import ACLHelper, Authenticated, Everyone
from pyramid.interfaces import ISecurityPolicy
from zope.interface import implementer

from loginsite.session.request_cache import EnvironRequestCache
from loginsite.session.token import InvalidSession, SessionCodec, SessionToken
from loginsite.settings import ACR_AUTH_ONLY, SessionSettings

if TYPE_CHECKING:
    from pyramid.request import Request
    from pyramid.response import Response

    from loginsite.revocation import RevocationStore

log = logging.getLogger(__name__)

MAX_COOKIE_BYTES = 4096
_IDENTITY_KEY = "loginsite.session.identity"
# What the response owes the session: absent if the request never consulted it; else a tuple of
# Set-Cookie headers (a renewal, a clearing, or none), and ``Vary: Cookie``; ``_SETTLED`` once
# the response has been given them. remember() and forget() reset it to no headers: the headers
# they return are the last word.
_PLAN_KEY = "loginsite.session.plan"
_SETTLED = ("settled",)
_NO_HEADERS: tuple[tuple[str, str], ...] = ()
# Set when a valid-looking session could not be checked against the revocation list.
SESSION_UNVERIFIABLE = "loginsite.session.unverifiable"


def user_principal(sub: str) -> str:
    return f"user:{sub}"


def acr_principal(acr: str) -> str:
    """The assurance level is a principal, so an ACL can demand identity verification."""
    return f"acr:{acr}"


class CookieTooLarge(ValueError):
    """Browsers silently drop cookies over 4096 bytes; refuse to send one."""


def _add_vary_cookie(response: Response) -> None:
    headerlist = response.headerlist
    for name, _ in headerlist:
        if name.lower() == "vary":
            vary = response.vary or ()
            if "Cookie" not in vary:
                response.vary = (*vary, "Cookie")
            return
    # The common case, without WebOb's parse-and-serialise of the ``vary`` property.
    headerlist.append(("Vary", "Cookie"))


def _settle(request: Request, response: Response) -> None:
    """Give the response what the session plan says it owes (see :data:`_PLAN_KEY`)."""
    environ = request.environ
    headers = environ.get(_PLAN_KEY)
    environ[_PLAN_KEY] = _SETTLED
    if headers is None or headers is _SETTLED:
        return
    _add_vary_cookie(response)
    if headers:
        response.headerlist.extend(headers)


def session_response_tween_factory(handler: Callable, registry: Any) -> Callable:
    """Settles each response's session plan.

    ``includeme`` installs it outermost, so it sees every response, error pages included, after
    anything inside may have consulted the session. One tween for all requests costs less than a
    response callback registered on each request that consults the session.
    """

    def session_response_tween(request: Request) -> Response:
        response = handler(request)
        _settle(request, response)
        return response

    return session_response_tween


def cookie_value(environ: dict[str, Any], name: str) -> str | None:
    """The first cookie called ``name``, straight from the header: no parse of the other cookies
    (cheaper than WebOb's), and nothing in the header can make it raise."""
    header = environ.get("HTTP_COOKIE")
    if not header:
        return None
    prefix = name + "="
    start = 0 if header.startswith(prefix) else _find_cookie(header, prefix)
    if start < 0:
        return None
    end = header.find(";", start)
    value = header[start + len(prefix) : end if end >= 0 else None].strip(" \t")
    # RFC 6265 allows a cookie-value in double quotes.
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    return value


def _find_cookie(header: str, prefix: str) -> int:
    """Where ``prefix`` starts a cookie pair (not the tail of another name or value), or -1."""
    start = header.find(prefix)
    while start >= 0:
        before = start - 1
        while before >= 0 and header[before] in " \t":
            before -= 1
        if before < 0 or header[before] == ";":
            return start
        start = header.find(prefix, start + 1)
    return -1


def _log_refusal(request: Request, reason: str, sub: str, level: int = logging.INFO) -> None:
    """Why a presented session was not accepted; never the token itself."""
    log.log(
        level,
        "session.refused reason=%s sub=%s request_id=%s",
        reason,
        sub,
        request.environ.get("loginsite.request_id", "-"),
    )


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
        self._response_tween = response_tween
        self.codec = SessionCodec(
            settings.keys,
            idle_timeout=settings.idle_timeout,
            max_age=settings.max_age,
            clock=clock,
        )
        self.revocations = revocations
        self.cookie_name = settings.cookie_name_on_wire
        self._cookie_attributes = "; Path=/; HttpOnly; SameSite=Lax" + (
            "; Secure" if settings.secure else ""
        )
        self._identity_cache = EnvironRequestCache(self._load_identity, _IDENTITY_KEY)
        self._acl = ACLHelper()

    # ISecurityPolicy

    def identity(self, request: Request) -> SessionToken | None:
        return self._identity_cache.get_or_create(request)

    def authenticated_userid(self, request: Request) -> str | None:
        identity = self._identity_cache.get_or_create(request)
        return None if identity is None else identity.sub

    def permits(self, request: Request, context: Any, permission: str) -> Any:
        return self._acl.permits(context, self.effective_principals(request), permission)

    def effective_principals(self, request: Request) -> list[str]:
        identity = self.identity(request)
        if identity is None:
            return [Everyone]
        return [Everyone, Authenticated, user_principal(identity.sub), acr_principal(identity.acr)]

    def remember(
        self,
        request: Request,
        userid: str,
        *,
        email: str | None = None,
        acr: str = ACR_AUTH_ONLY,
        **kw: Any,
    ) -> list[tuple[str, str]]:
        """Start a brand-new session; a cookie that existed before sign-in is never reused."""
        value, token = self.codec.mint(userid, email=email, acr=acr)
        headers = [("Set-Cookie", self._set_cookie(value, token))]
        self._plan(request, _NO_HEADERS)
        self._identity_cache.set(request, token)
        return headers

    def forget(self, request: Request, **kw: Any) -> list[tuple[str, str]]:
        self._plan(request, _NO_HEADERS)
        self._identity_cache.set(request, None)
        return [("Set-Cookie", self._delete_cookie())]

    # Beyond ISecurityPolicy: what sign-out and the admin tools need.

    def session_cookie(self, request: Request) -> str | None:
        return cookie_value(request.environ, self.cookie_name)

    # Internals

    def _load_identity(self, request: Request) -> SessionToken | None:
        self._plan(request, _NO_HEADERS)  # the response depends on the cookie, whatever it holds
        value = cookie_value(request.environ, self.cookie_name)
        if value is None:
            return None
        try:
            token = self.codec.verify(value)
        except InvalidSession as exc:
            self._refuse(request, exc.reason)
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
                _log_refusal(request, reason, token.sub, level=logging.WARNING)
                request.environ[SESSION_UNVERIFIABLE] = True
                return None
            if revoked:
                self._refuse(request, "session revoked", sub=token.sub)
                return None
        if self.codec.needs_renewal(token):
            renewed_value, renewed = self.codec.renew(token)
            self._plan(request, (("Set-Cookie", self._set_cookie(renewed_value, renewed)),))
            return renewed
        return token

    def _refuse(self, request: Request, reason: str, sub: str = "-") -> None:
        """Anonymous, and the response deletes the cookie."""
        _log_refusal(request, reason, sub)
        self._plan(request, (("Set-Cookie", self._delete_cookie()),))

    def _plan(self, request: Request, headers: tuple[tuple[str, str], ...]) -> None:
        """Record what the response owes the session; make sure something will settle it."""
        environ = request.environ
        previous = environ.get(_PLAN_KEY)
        if previous is _SETTLED or (previous is None and not self._response_tween):
            # No session tween, or it has already passed: a response callback will settle it.
            request.add_response_callback(_settle)
        environ[_PLAN_KEY] = headers

    def _set_cookie(self, value: str, token: SessionToken) -> str:
        max_age = max(0, token.expires_at - int(self.codec.clock()))
        if len(self.cookie_name) + 1 + len(value) > MAX_COOKIE_BYTES:
            raise CookieTooLarge(
                f"the session cookie would be {len(value)} bytes; browsers drop cookies over "
                f"{MAX_COOKIE_BYTES} bytes (name + value): keep the session claims small"
            )
        return f"{self.cookie_name}={value}; Max-Age={max_age}{self._cookie_attributes}"

    def _delete_cookie(self) -> str:
        return (
            f"{self.cookie_name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
            f"{self._cookie_attributes}"
        )
