"""One sign-in attempt (state, nonce, PKCE verifier) and the signed cookie that carries it.

The transaction binds the callback to the browser that started the sign-in: it lives only in
that browser's cookie, keyed by ``state`` so two tabs can sign in at once, and is removed when
used (success or failure) or after ``ttl`` seconds. The cookie is an HS256 JWT with its own
``typ``/``iss``/``aud``, so neither a session cookie nor any provider token can pass as one.
Anything wrong with the cookie reads as "no pending transaction", never as an exception.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import jwt

from loginsite.strict_jwt import RefusedToken, decode_strict

from .config import LOCALES

__all__ = ["LoginTransaction", "TransactionJar", "sanitize_next"]

MAX_NEXT_LENGTH = 512
# Characters allowed raw in a return-to path: RFC 3986 unreserved, sub-delims, ':@/?%#'.
_NEXT_CHARS = re.compile(r"^[A-Za-z0-9\-._~!$&'()*+,;=:@/?%#]*$")
_BAD_PERCENT = re.compile(r"%(?![0-9A-Fa-f]{2})")
# state, nonce and PKCE verifier as read back: RFC 7636's verifier alphabet and lengths (ours
# are 43 characters of base64url), so nothing else (a lone surrogate, say) gets any further.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~]{22,128}")
_ACR_VALUE = re.compile(r"[!-~]{1,256}")
_MAX_ACR_VALUES = 8
# What the log says for each rule the strict decoder names; anything else is "tampered".
_JAR_REASONS = {"size": "oversized", "kid": "unknown key"}


def sanitize_next(value: str | None, default: str = "/account") -> str:
    """``value`` if it is a same-site relative path, else ``default``.

    Browsers are lenient: they treat ``\\`` as ``/``, drop tabs and newlines, strip leading
    spaces, and some proxies or frameworks decode ``%2F``. So only plain printable ASCII is
    accepted, the path must start with exactly one ``/``, and the checks are repeated on the
    percent-decoded text.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_NEXT_LENGTH:
        return default
    if not _NEXT_CHARS.match(value) or _BAD_PERCENT.search(value):
        return default
    decoded = value
    for _ in range(3):
        if not _is_local_path(decoded):
            return default
        once = unquote(decoded)
        if once == decoded:
            break
        decoded = once
    else:
        return default  # still changing after three rounds of decoding: refuse
    return value


def _is_local_path(text: str) -> bool:
    if not text.startswith("/") or text.startswith(("//", "/\\")):
        return False
    if "\\" in text or any(ord(c) < 32 or ord(c) == 127 for c in text):
        return False
    parts = urlsplit(text)
    return not parts.scheme and not parts.netloc


def _octets(text: str) -> bytes:
    """UTF-8 for a comparison, whatever the text holds (a lone surrogate included)."""
    return text.encode("utf-8", "surrogatepass")


def _random_token() -> str:
    """43 characters of base64url from 256 random bits (login.gov wants >= 22)."""
    return secrets.token_urlsafe(32)


@dataclass(frozen=True)
class LoginTransaction:
    """What the callback needs to finish one sign-in; lives only in the browser's cookie."""

    state: str
    nonce: str
    code_verifier: str
    next_path: str
    acr_values: tuple[str, ...]
    created_at: int
    locale: str | None = None

    @classmethod
    def new(
        cls,
        *,
        next_path: str,
        acr_values: Sequence[str],
        created_at: int,
        locale: str | None = None,
    ) -> LoginTransaction:
        """A fresh transaction: new random state, nonce and PKCE verifier every time."""
        return cls(
            state=_random_token(),
            nonce=_random_token(),
            code_verifier=_random_token(),
            next_path=sanitize_next(next_path),
            acr_values=tuple(acr_values),
            created_at=int(created_at),
            locale=locale,
        )

    @property
    def code_challenge(self) -> str:
        """PKCE S256: base64url(SHA-256(verifier)) without padding (RFC 7636 4.2)."""
        digest = hashlib.sha256(self.code_verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def to_claim(self) -> dict[str, Any]:
        claim: dict[str, Any] = {
            "s": self.state,
            "n": self.nonce,
            "v": self.code_verifier,
            "p": self.next_path,
            "a": list(self.acr_values),
            "t": self.created_at,
        }
        if self.locale is not None:
            claim["l"] = self.locale
        return claim

    @classmethod
    def from_claim(cls, claim: Any) -> LoginTransaction | None:
        """Rebuild from the cookie; None if any field has the wrong shape.

        The cookie is signed by the app itself, but one leaked key must not also become an open
        redirect or a 500: every field is held to the shape :meth:`new` produces (random
        tokens of unreserved ASCII, printable acr values, a known locale), and ``next_path``
        goes through :func:`sanitize_next` again.
        """
        if not isinstance(claim, dict):
            return None
        tokens = [claim.get(k) for k in ("s", "n", "v")]
        next_path, acr = claim.get("p"), claim.get("a")
        created, locale = claim.get("t"), claim.get("l")
        if not all(isinstance(v, str) and _TOKEN.fullmatch(v) for v in tokens):
            return None
        if not isinstance(next_path, str) or not next_path:
            return None
        if not isinstance(acr, list) or len(acr) > _MAX_ACR_VALUES:
            return None
        if not all(isinstance(v, str) and _ACR_VALUE.fullmatch(v) for v in acr):
            return None
        if not isinstance(created, int) or isinstance(created, bool) or created < 0:
            return None
        if locale is not None and locale not in LOCALES:
            return None
        state, nonce, verifier = tokens
        return cls(state, nonce, verifier, sanitize_next(next_path), tuple(acr), created, locale)


class TransactionJar:
    """Reads and writes the pending-transactions cookie value.

    ``keys`` is a key ring of ``(kid, secret)``: the first signs, all verify, so the secret can
    be rotated without breaking sign-ins in flight.
    """

    TYP = "loginsite-login-txn+jwt"
    ALGORITHM = "HS256"
    MAX_COOKIE_BYTES = 3800  # name + value must stay under the browsers' 4096
    CLOCK_SKEW = 60  # between the app's own workers

    def __init__(
        self,
        keys: Sequence[tuple[str, bytes]],
        *,
        issuer: str = "loginsite",
        audience: str = "loginsite:login-transaction",
        max_pending: int = 5,
        ttl: int = 600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValueError("TransactionJar needs at least one key")
        for kid, secret in keys:
            if not kid or len(secret) < 32:
                raise ValueError(f"transaction key {kid!r} must have a kid and >= 32 bytes")
        self._keys = tuple((kid, bytes(secret)) for kid, secret in keys)
        self._issuer = issuer
        self._audience = audience
        self._max_pending = max_pending
        self._ttl = ttl
        self._clock = clock

    def add(self, cookie_value: str | None, transaction: LoginTransaction) -> str:
        """The new cookie value: the pending transactions plus this one (oldest dropped)."""
        now = int(self._clock())
        pending, _ = self._read(cookie_value, now)
        pending = [t for t in pending if t.state != transaction.state]
        pending.append(transaction)
        pending = pending[-self._max_pending :]
        value = self._write(pending, now)
        while len(value) > self.MAX_COOKIE_BYTES and len(pending) > 1:
            pending = pending[1:]
            value = self._write(pending, now)
        return value

    def pending(self, cookie_value: str | None) -> list[LoginTransaction]:
        """The live, well-formed transactions a cookie value holds (none if it is bad)."""
        return self._read(cookie_value, int(self._clock()))[0]

    def take(
        self, cookie_value: str | None, state: str | None
    ) -> tuple[LoginTransaction | None, str | None, str]:
        """Remove the transaction for ``state``.

        Returns (transaction or None, new cookie value or None to delete the cookie, reason).
        The reason is "ok" on success, otherwise says why for the log.
        """
        now = int(self._clock())
        pending, problem = self._read(cookie_value, now)
        found: LoginTransaction | None = None
        expired = False
        if problem is None and isinstance(state, str) and state:
            for txn in pending:
                if secrets.compare_digest(txn.state.encode(), _octets(state)):
                    found = txn
            if found is None:
                expired = any(
                    secrets.compare_digest(_octets(s), _octets(state))
                    for s in self._expired_states(cookie_value)
                )
        rest = [t for t in pending if t is not found]
        new_value = self._write(rest, now) if rest else None
        if found is not None:
            return found, new_value, "ok"
        if problem is not None:
            reason = problem
        elif not isinstance(state, str) or not state:
            reason = "no state in callback"
        elif expired:
            reason = "expired"
        else:
            reason = "unknown state"
        return None, new_value, reason

    def _write(self, pending: Sequence[LoginTransaction], now: int) -> str:
        kid, secret = self._keys[0]
        newest = max((t.created_at for t in pending), default=now)
        payload = {
            "iss": self._issuer,
            "aud": self._audience,
            "iat": now,
            "exp": newest + self._ttl,
            "txns": [t.to_claim() for t in pending],
        }
        return jwt.encode(
            payload, secret, algorithm=self.ALGORITHM, headers={"kid": kid, "typ": self.TYP}
        )

    def _decode(self, cookie_value: str | None) -> tuple[list[Any], str | None]:
        """The raw transaction claims, or ([], reason) if the cookie is absent or bad."""
        if not cookie_value:
            return [], "no transaction cookie"
        keys = dict(self._keys)
        try:
            _, payload = decode_strict(
                cookie_value,
                algorithm=self.ALGORITHM,
                typ=self.TYP,
                key_for=lambda kid: keys.get(kid) if kid is not None else None,
                max_length=4096,
                required=("iss", "aud", "iat", "exp", "txns"),
                issuer=self._issuer,
                audience=self._audience,
            )
        except RefusedToken as exc:
            return [], _JAR_REASONS.get(exc.rule, "tampered")
        # exp/iat are checked here against the injectable clock, so the jar has one "now".
        exp, iat, txns = payload["exp"], payload["iat"], payload["txns"]
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (exp, iat)):
            return [], "tampered"
        if not isinstance(txns, list) or "nbf" in payload:
            return [], "tampered"
        now = int(self._clock())
        if iat > now + self.CLOCK_SKEW:
            return [], "tampered"
        if exp <= now:
            return [], "expired"
        return txns, None

    def _read(
        self, cookie_value: str | None, now: int
    ) -> tuple[list[LoginTransaction], str | None]:
        """Unexpired, well-formed pending transactions, or ([], reason)."""
        claims, problem = self._decode(cookie_value)
        pending: list[LoginTransaction] = []
        for claim in claims[-self._max_pending :]:
            txn = LoginTransaction.from_claim(claim)
            if txn is not None and self._live(txn, now):
                pending.append(txn)
        return pending, problem

    def _expired_states(self, cookie_value: str | None) -> list[str]:
        claims, _ = self._decode(cookie_value)
        return [c["s"] for c in claims if isinstance(c, dict) and isinstance(c.get("s"), str)]

    def _live(self, txn: LoginTransaction, now: int) -> bool:
        return txn.created_at <= now + self.CLOCK_SKEW and now - txn.created_at < self._ttl
