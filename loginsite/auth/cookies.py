"""The short-lived cookies of the sign-in flow: pending sign-ins and the sign-out state."""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import time
from collections.abc import Callable
from typing import Any

from loginsite.oidc import LoginTransaction, TransactionJar
from loginsite.session.cookie import cookie_value
from loginsite.session.token import CLOCK_SKEW
from loginsite.settings import SessionKey, SessionSettings, cookie_name_on_wire

TRANSACTION_TTL = 600


def signing_first(settings: SessionSettings) -> list[SessionKey]:
    """The session key ring with its signing key first: the order the cookies' key lists take
    (their first key signs, all verify), whatever order the ring was configured in."""
    signing = settings.signing_key
    return [signing, *(key for key in settings.keys if key is not signing)]


def transaction_keys(settings: SessionSettings) -> list[tuple[str, bytes]]:
    """Keys for the transaction cookie, derived so no secret serves two purposes; the first one
    (from the ring's signing key) signs, the others (from verify-only keys) only verify, so a
    sign-in begun on one instance completes on another at the next stage of a key rotation."""
    return [
        (key.kid, hmac.new(key.secret, b"loginsite login transaction", hashlib.sha256).digest())
        for key in signing_first(settings)
    ]


class FlowCookie:
    """One HttpOnly, SameSite=Lax, Path=/ cookie with a short life; ``__Host-`` when secure."""

    def __init__(self, name: str, *, secure: bool, max_age: int) -> None:
        self.name = cookie_name_on_wire(name, secure=secure)
        self.secure = secure
        self.max_age = max_age

    def read(self, request: Any) -> str | None:
        """This cookie's value, read without WebOb's cookie parser (see :func:`cookie_value`)."""
        return cookie_value(request.environ, self.name)

    def set(self, response: object, value: str | None) -> None:
        if value is None:
            self.delete(response)
            return
        response.set_cookie(  # type: ignore[attr-defined]
            self.name,
            value,
            max_age=self.max_age,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def delete(self, response: object) -> None:
        response.set_cookie(  # type: ignore[attr-defined]
            self.name,
            "",
            max_age=0,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )


class SignOutOutcome(enum.Enum):
    """What a sign-out actually did, as the signed-out page reports it (one letter on the wire)."""

    #: The browser had no session cookie that verifies: nothing to end.
    NO_SESSION = "n"
    #: This session was revoked, and the revocation recorded.
    SESSION = "s"
    #: This session and every session of its user were revoked and recorded.
    EVERYWHERE = "e"
    #: This session was revoked, but the user's other sessions could not be.
    EVERYWHERE_FAILED = "p"
    #: The revocation could not be recorded: only this browser's cookie was cleared.
    NOT_RECORDED = "u"
    #: The site keeps no revocation list (store ``none``): only this browser's cookie was cleared.
    BROWSER_ONLY = "b"


def signout_keys(settings: SessionSettings) -> list[bytes]:
    """Keys for the sign-out receipt, derived so no secret serves two purposes; the first one
    (from the ring's signing key) seals, every one opens."""
    return [
        hmac.new(key.secret, b"loginsite sign-out receipt", hashlib.sha256).digest()
        for key in signing_first(settings)
    ]


class SignOutReceipt:
    """The sign-out cookie: the logout ``state`` and what the sign-out did, MAC'd and dated.

    The browser carries it through the provider's logout and back to the signed-out page, which
    states the outcome only when the receipt verifies, is fresh and its state matches the
    ``state`` the provider returned. A leftover, planted or edited cookie states nothing.
    """

    def __init__(
        self, keys: list[bytes], *, ttl: int, clock: Callable[[], float] = time.time
    ) -> None:
        if not keys:
            raise ValueError("the sign-out receipt needs at least one key")
        self._keys = keys
        self.ttl = ttl
        self._clock = clock

    def seal(self, state: str, outcome: SignOutOutcome) -> str:
        body = f"{state}.{outcome.value}.{int(self._clock())}"
        return f"{body}.{self._mac(self._keys[0], body)}"

    def open(self, value: str | None, state: str | None) -> SignOutOutcome | None:
        """The outcome ``value`` records for ``state``, or None if anything does not match."""
        # Everything this class seals is ASCII; anything else was not sealed here.
        if not (value and state and value.isascii() and state.isascii()):
            return None
        body, _, mac = value.rpartition(".")
        parts = body.split(".")
        if len(parts) != 3 or not any(
            hmac.compare_digest(mac, self._mac(key, body)) for key in self._keys
        ):
            return None
        sealed_state, code, issued = parts
        if not hmac.compare_digest(sealed_state, state):
            return None
        # Sealed on one server, opened on another: allow their clocks to differ a little.
        if not issued.isdigit() or not -CLOCK_SKEW <= self._clock() - int(issued) <= self.ttl:
            return None
        try:
            return SignOutOutcome(code)
        except ValueError:
            return None

    @staticmethod
    def _mac(key: bytes, body: str) -> str:
        digest = hmac.new(key, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


MAX_PENDING_SIGN_INS = 5
_MAX_SCANNED = 32  # transaction cookies looked at in one Cookie header, at most


def cookies_starting_with(environ: dict[str, Any], prefix: str) -> dict[str, str]:
    """The cookies whose name starts with ``prefix``, straight from the header (no WebOb
    parse of the other cookies; nothing in the header can make it raise)."""
    found: dict[str, str] = {}
    for pair in (environ.get("HTTP_COOKIE") or "").split(";"):
        name, sep, value = pair.strip(" \t").partition("=")
        if sep and name.startswith(prefix) and name not in found:
            value = value.strip(" \t")
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            found[name] = value
            if len(found) >= _MAX_SCANNED:
                break
    return found


class TransactionCookies:
    """One small cookie per pending sign-in, named after its ``state``, so sign-ins started in
    several tabs at once never overwrite each other (the last ``Set-Cookie`` of one shared
    cookie used to win). At most ``max_pending`` at once: starting one more deletes the oldest.
    Each is a signed one-transaction :class:`TransactionJar` value, bound to this browser
    (HttpOnly, SameSite=Lax, ``__Host-`` when secure), deleted by its callback whatever the
    outcome, and dead after ``TRANSACTION_TTL`` anyway."""

    def __init__(
        self,
        jar: TransactionJar,
        *,
        secure: bool,
        max_age: int = TRANSACTION_TTL,
        max_pending: int = MAX_PENDING_SIGN_INS,
    ) -> None:
        self.jar = jar
        self.max_pending = max_pending
        self.prefix = cookie_name_on_wire("loginsite_signin_", secure=secure)
        self.secure = secure
        self.max_age = max_age

    def name_for(self, state: str) -> str:
        """The cookie name for ``state``: 72 bits of its hash (never the state itself)."""
        digest = hashlib.sha256(state.encode("utf-8", "surrogatepass")).digest()
        return self.prefix + base64.urlsafe_b64encode(digest[:9]).decode("ascii")

    def add(self, request: Any, response: Any, transaction: LoginTransaction) -> None:
        """Set this transaction's cookie; delete dead ones and, past the bound, the oldest."""
        live: list[tuple[int, str]] = []
        for name, value in cookies_starting_with(request.environ, self.prefix).items():
            pending = self.jar.pending(value)
            if pending:
                live.append((max(t.created_at for t in pending), name))
            else:
                self._set(response, name, None)
        live.sort()
        for _, name in live[: max(0, len(live) - (self.max_pending - 1))]:
            self._set(response, name, None)
        self._set(response, self.name_for(transaction.state), self.jar.add(None, transaction))

    def take(self, request: Any, state: object) -> tuple[LoginTransaction | None, str, str | None]:
        """(the transaction for ``state`` or None, the reason for the log, the cookie to clear)."""
        if not isinstance(state, str) or not state:
            return None, "no state in callback", None
        name = self.name_for(state)
        transaction, _, reason = self.jar.take(cookie_value(request.environ, name), state)
        return transaction, reason, name

    def clear(self, response: Any, name: str | None) -> None:
        if name is not None:
            self._set(response, name, None)

    def _set(self, response: Any, name: str, value: str | None) -> None:
        """Set (or, for None, delete) one transaction cookie with the flow cookies' attributes."""
        response.set_cookie(
            name,
            value or "",
            max_age=self.max_age if value else 0,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )
