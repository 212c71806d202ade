"""The session token: a small HS256 JWT that is the whole server-side state of a session.

Pure logic, no Pyramid: minting, verifying and renewing tokens against a key ring and a clock.
Verification is strict (RFC 8725): one algorithm, the app's own ``typ``, ``iss`` and ``aud``, every
claim required. Because the crypto and PyJWT's per-call checks cost far more than the rest of a
request, tokens that passed full verification are remembered in a bounded cache keyed by the exact
token string; the time checks (idle, absolute) run on every call, and the caller checks revocation
on every call, so a cache hit can never admit a token that would now be refused.

The token rides on every request, so its claims are compact (see :func:`pack_sub` and
:func:`pack_acr`); a typical login.gov identity fits in a cookie under 400 bytes.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import jwt

from loginsite.settings import ACR_AUTH_ONLY, ACR_VERIFIED, SessionKey, signing_key_of
from loginsite.strict_jwt import RefusedToken, decode_strict

# Explicit typing (RFC 8725 3.11) in the style of RFC 9068's ``at+jwt``: short, and unlike any
# token login.gov or anyone else issues.
TOKEN_TYPE = "ls+jwt"  # noqa: S105 - a JWT "typ", not a password
# loginsite issues session tokens to itself.
ISSUER = "ls"
AUDIENCE = "ls"
ALGORITHM = "HS256"
#: The one size limit of a session token, for minting, renewing and verifying alike, so the app
#: never issues a token it would refuse: with the longest cookie name the settings allow
#: (``__Host-`` + 64), name=value stays under the 4096 bytes browsers keep.
MAX_TOKEN_BYTES = 3800
CACHE_SIZE = 10_000
CLOCK_SKEW = 5  # seconds between app servers
#: ``sit``: when the user signed in; ``dl``: the sign-in's absolute deadline.
_REQUIRED_CLAIMS = ("iss", "aud", "sub", "iat", "exp", "jti", "sit", "dl", "acr")
_TIME_CLAIMS = ("iat", "exp", "sit", "dl")

# login.gov's assurance levels, one character each in the token.
ACR_PREFIX = "urn:acr.login.gov:"
_ACR_CODES = {ACR_AUTH_ONLY: "a", ACR_VERIFIED: "v"}
_ACR_BY_CODE = {code: acr for acr, code in _ACR_CODES.items()}
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def pack_sub(sub: str) -> str:
    """login.gov's ``sub`` is a lowercase UUID: 36 characters, or ``~`` + 22 as base64url bytes.

    Any other ``sub`` is kept as it is (one starting with ``~`` gets a second ``~``), so every
    ``sub`` has exactly one packed form and :func:`unpack_sub` gives it back unchanged.
    """
    if _CANONICAL_UUID.fullmatch(sub):
        return "~" + base64.urlsafe_b64encode(uuid.UUID(sub).bytes).decode().rstrip("=")
    return "~" + sub if sub.startswith("~") else sub


def unpack_sub(packed: str) -> str:
    if packed.startswith("~~"):
        return packed[1:]
    if not packed.startswith("~"):
        return packed
    try:
        raw = base64.urlsafe_b64decode(packed[1:] + "==")
    except (binascii.Error, ValueError):
        raise InvalidSession("malformed sub") from None
    if len(packed) != 23 or len(raw) != 16:
        raise InvalidSession("malformed sub")
    sub = str(uuid.UUID(bytes=raw))
    if pack_sub(sub) != packed:  # trailing bits set: not the one packed form of this sub
        raise InvalidSession("malformed sub")
    return sub


def pack_acr(acr: str) -> str:
    """``a``/``v`` for login.gov's two service levels, ``~`` + the rest of another login.gov
    level, ``=`` + anything else: one packed form per value, never ambiguous."""
    code = _ACR_CODES.get(acr)
    if code is not None:
        return code
    if acr.startswith(ACR_PREFIX):
        return "~" + acr[len(ACR_PREFIX) :]
    return "=" + acr


def unpack_acr(packed: str) -> str:
    acr = _ACR_BY_CODE.get(packed)
    if acr is not None:
        return acr
    if packed[:1] == "~" and len(packed) > 1:
        return ACR_PREFIX + packed[1:]
    if packed[:1] == "=" and len(packed) > 1:
        return packed[1:]
    raise InvalidSession("malformed acr")


class InvalidSession(Exception):
    """The presented token is not a live session; ``reason`` is safe to log (no token)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SessionTooLarge(ValueError):
    """The token would exceed :data:`MAX_TOKEN_BYTES` (browsers drop such cookies, and
    :meth:`SessionCodec.verify` would refuse it): the identity's claims are too long."""

    def __init__(self, size: int) -> None:
        super().__init__(
            f"the session token would be {size} bytes, over the limit of {MAX_TOKEN_BYTES} "
            "(browsers drop cookies over 4096 bytes): the identity's claims are too long"
        )
        self.size = size


@dataclass(frozen=True, slots=True)
class SessionToken:
    """What a verified session token says: the identity the security policy hands to Pyramid."""

    sub: str
    email: str | None
    acr: str
    signed_in_at: int
    deadline: int
    session_id: str
    issued_at: int
    expires_at: int
    kid: str


class SessionCodec:
    """Mint and verify session tokens for one key ring and one pair of timeouts.

    The ring's one signing key mints and renews; every key, verify-only ones included, verifies.
    A session signed with another key of the ring is renewed onto the signing key when next used,
    so once every instance signs with a new key, no token under the old one outlives the idle
    timeout (README "Key rotation").
    """

    def __init__(
        self,
        keys: Sequence[SessionKey],
        *,
        idle_timeout: int,
        max_age: int,
        clock: Callable[[], float] = time.time,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        self._signing_key = signing_key_of(keys)  # ValueError unless exactly one key signs
        self._keys = {key.kid: key.secret for key in keys}
        self.idle_timeout = idle_timeout
        self.max_age = max_age
        self.clock = clock
        self._cache: dict[str, SessionToken] = {}
        self._cache_size = cache_size
        # Re-issue once a quarter of the idle window has passed, not on every request.
        self.renew_after = max(1, idle_timeout // 4)

    def mint(self, sub: str, *, email: str | None, acr: str) -> tuple[str, SessionToken]:
        """A brand-new session: new ``jti``, sign-in time now, absolute deadline now + max_age.

        Raises :class:`SessionTooLarge` if the claims do not fit in a cookie.
        """
        if not isinstance(sub, str) or not sub:
            raise ValueError("a session needs a non-empty sub")
        now = int(self.clock())
        deadline = now + self.max_age
        token = SessionToken(
            sub=sub,
            email=email,
            acr=acr,
            signed_in_at=now,
            deadline=deadline,
            session_id=secrets.token_urlsafe(16),
            issued_at=now,
            expires_at=min(now + self.idle_timeout, deadline),
            kid=self._signing_key.kid,
        )
        return self._encode(token), token

    def renew(self, token: SessionToken) -> tuple[str, SessionToken]:
        """The same session re-issued now under the current key; never past its deadline.

        Raises :class:`SessionTooLarge` if the re-encoded token grew past the limit (a longer
        kid, or claims that were signed as raw UTF-8 and are re-encoded as escapes).
        """
        now = int(self.clock())
        renewed = replace(
            token,
            issued_at=now,
            expires_at=min(now + self.idle_timeout, token.deadline),
            kid=self._signing_key.kid,
        )
        return self._encode(renewed), renewed

    def needs_renewal(self, token: SessionToken) -> bool:
        if token.kid != self._signing_key.kid:
            return True  # move sessions onto the current key as they are used
        if token.expires_at >= token.deadline:
            return False  # already as long as it may ever be
        return self.clock() - token.issued_at >= self.renew_after

    def verify(self, value: str) -> SessionToken:
        """Return the live session the cookie value holds, or raise :class:`InvalidSession`."""
        token = self.signed_token(value)
        now = self.clock()
        if token.issued_at > now + CLOCK_SKEW:
            raise InvalidSession("issued in the future")
        if now >= token.deadline:
            raise InvalidSession("absolute deadline passed")
        if now >= token.expires_at:
            raise InvalidSession("idle timeout passed")
        return token

    def signed_token(self, value: str) -> SessionToken:
        """The session a token names if this app signed it, whether or not it is still live.

        Everything :meth:`verify` checks except time: signature, key, algorithm, ``typ``,
        ``iss``, ``aud`` and the claims. Sign-out uses it to revoke a session that is idle-expired
        or past its deadline too; a token that fails these checks names nothing to revoke.
        """
        token = self._cache.get(value)
        if token is None:
            token = self._decode(value)
            if self._cache_size > 0:  # cache_size=0: no cache, every call verifies in full
                if len(self._cache) >= self._cache_size:
                    self._evict_oldest()
                self._cache[value] = token
        elif token.kid not in self._keys:
            raise InvalidSession("signing key no longer in the ring")
        return token

    def _evict_oldest(self) -> None:
        try:
            del self._cache[next(iter(self._cache))]
        except (StopIteration, KeyError, RuntimeError):
            self._cache.clear()  # another thread got there first; starting over is harmless

    def _encode(self, token: SessionToken) -> str:
        claims = {
            "iss": ISSUER,
            "aud": AUDIENCE,
            "sub": pack_sub(token.sub),
            "iat": token.issued_at,
            "exp": token.expires_at,
            "jti": token.session_id,
            "sit": token.signed_in_at,
            "dl": token.deadline,
            "acr": pack_acr(token.acr),
        }
        if token.email is not None:
            claims["email"] = token.email
        value = jwt.encode(
            claims,
            self._signing_key.secret,
            algorithm=ALGORITHM,
            headers={"kid": self._signing_key.kid, "typ": TOKEN_TYPE},
        )
        if len(value) > MAX_TOKEN_BYTES:
            raise SessionTooLarge(len(value))
        return value

    def _decode(self, value: str) -> SessionToken:
        try:
            header, claims = decode_strict(
                value,
                algorithm=ALGORITHM,
                typ=TOKEN_TYPE,
                key_for=lambda kid: self._keys.get(kid) if kid is not None else None,
                max_length=MAX_TOKEN_BYTES,
                required=_REQUIRED_CLAIMS,
                issuer=ISSUER,
                audience=AUDIENCE,
            )
        except RefusedToken as exc:
            raise InvalidSession(exc.reason) from None
        # Time is checked by verify() on every call, cache hit or not, against the codec's clock.
        return self._token_from_claims(claims, header["kid"])

    def _token_from_claims(self, claims: dict, kid: str) -> SessionToken:
        if any(type(claims[name]) is not int for name in _TIME_CLAIMS):
            raise InvalidSession("time claims must be integers")
        sub, jti, acr = claims["sub"], claims["jti"], claims["acr"]
        email = claims.get("email")
        if not (isinstance(sub, str) and sub):
            raise InvalidSession("empty sub")
        if not (isinstance(jti, str) and len(jti) >= 22):
            raise InvalidSession("session id too short")
        if not isinstance(acr, str) or (email is not None and not isinstance(email, str)):
            raise InvalidSession("malformed user claims")
        try:  # a lone surrogate ("\\ud800" in the JSON) could not be written into a page
            (sub + acr + (email or "")).encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidSession("user claims are not valid Unicode") from None
        signed_in_at, deadline = claims["sit"], claims["dl"]
        issued_at, expires_at = claims["iat"], claims["exp"]
        # The claims must agree with this server's timeouts, so shortening a timeout in the
        # settings shortens sessions already issued.
        if deadline > signed_in_at + self.max_age or expires_at > deadline:
            raise InvalidSession("lifetime longer than allowed")
        if expires_at > issued_at + self.idle_timeout or issued_at < signed_in_at:
            raise InvalidSession("idle window longer than allowed")
        return SessionToken(
            sub=unpack_sub(sub),
            email=email,
            acr=unpack_acr(acr),
            signed_in_at=signed_in_at,
            deadline=deadline,
            session_id=jti,
            issued_at=issued_at,
            expires_at=expires_at,
            kid=kid,
        )
