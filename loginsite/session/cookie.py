"""The session cookie on the wire: read it from the ``Cookie`` header, write it, clear it.

Shaped like Pyramid's ``AuthTktCookieHelper``: ``identify`` / ``remember`` / ``forget`` over a
token codec, and ``reissue`` for the sliding renewal (as that helper reissues a ticket past
``reissue_time``), so the security policy only decides what a token means. The header is searched
for the one cookie by name, never parsed whole: that is cheaper than WebOb's parser, and nothing
in the header can make it raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loginsite.session.token import MAX_TOKEN_BYTES, SessionCodec, SessionToken

if TYPE_CHECKING:
    from pyramid.request import Request

    from loginsite.settings import SessionSettings

MAX_COOKIE_BYTES = 4096
Header = tuple[str, str]


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


class SessionCookieHelper:
    """Reads, writes and clears the session cookie: HttpOnly, SameSite=Lax, Path=/, no Domain,
    ``Secure`` and ``__Host-`` when the settings say secure, Max-Age until the deadline."""

    def __init__(self, codec: SessionCodec, cookie_name: str, *, secure: bool) -> None:
        if len(cookie_name) + 1 + MAX_TOKEN_BYTES > MAX_COOKIE_BYTES:
            # The codec's size limit is the cookie's only if the name leaves room for it.
            raise ValueError(f"the session cookie name is too long: {cookie_name[:80]!r}")
        self.codec = codec
        self.cookie_name = cookie_name
        self._attributes = "; Path=/; HttpOnly; SameSite=Lax" + ("; Secure" if secure else "")

    @classmethod
    def from_settings(
        cls, settings: SessionSettings, *, clock: Callable[[], float]
    ) -> SessionCookieHelper:
        codec = SessionCodec(
            settings.keys,
            idle_timeout=settings.idle_timeout,
            max_age=settings.max_age,
            clock=clock,
        )
        return cls(codec, settings.cookie_name_on_wire, secure=settings.secure)

    def identify(self, request: Request) -> SessionToken | None:
        """The live session the request's cookie holds; ``None`` without one.

        Raises :class:`~loginsite.session.token.InvalidSession` for a cookie that is not one.
        """
        value = cookie_value(request.environ, self.cookie_name)
        if value is None:
            return None
        return self.codec.verify(value)

    def signed(self, request: Request) -> SessionToken | None:
        """The session the request's cookie names if this app signed it, live or not.

        Raises :class:`~loginsite.session.token.InvalidSession` for a cookie it did not sign.
        """
        value = cookie_value(request.environ, self.cookie_name)
        if value is None:
            return None
        return self.codec.signed_token(value)

    def remember(
        self, request: Request, userid: str, *, email: str | None, acr: str
    ) -> tuple[list[Header], SessionToken]:
        """A brand-new session's cookie, and the token it holds.

        Raises :class:`~loginsite.session.token.SessionTooLarge` if it would not fit.
        """
        value, token = self.codec.mint(userid, email=email, acr=acr)
        return [self.set_cookie_header(value, token)], token

    def reissue(self, token: SessionToken) -> tuple[Header, SessionToken] | None:
        """The same session re-issued now, if it is due (sliding renewal, key rotation)."""
        if not self.codec.needs_renewal(token):
            return None
        value, renewed = self.codec.renew(token)
        return self.set_cookie_header(value, renewed), renewed

    def forget(self, request: Request) -> list[Header]:
        return [self.delete_cookie_header()]

    def set_cookie_header(self, value: str, token: SessionToken) -> Header:
        # Kept until the session's deadline, not its idle expiry: a tab left open past the idle
        # timeout still sends it, so its sign-out can end the session (and "sign out
        # everywhere" knows whose) instead of arriving without a cookie. The token inside is
        # refused, and the cookie cleared, on any other request.
        max_age = max(0, token.deadline - int(self.codec.clock()))
        return ("Set-Cookie", f"{self.cookie_name}={value}; Max-Age={max_age}{self._attributes}")

    def delete_cookie_header(self) -> Header:
        return (
            "Set-Cookie",
            f"{self.cookie_name}=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT"
            f"{self._attributes}",
        )
