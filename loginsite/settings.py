"""The one home of loginsite's settings.

Every ``loginsite.*`` setting is read here, once, at start-up: from the INI file's
``[app:main]`` section, overlaid by an environment variable of the same name in upper case
with dots as underscores (``loginsite.session.keys`` -> ``LOGINSITE_SESSION_KEYS``), so that no
secret ever has to live in an INI file. A wrong or missing value raises :class:`SettingsError`
naming the setting and what is expected, which stops ``pserve`` before it serves anything.
"""

from __future__ import annotations

import base64
import binascii
import difflib
import logging
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit

# login.gov's vocabulary lives with the OIDC client; re-exported for the rest of the app.
from loginsite.oidc.config import ACR_AUTH_ONLY as ACR_AUTH_ONLY
from loginsite.oidc.config import ACR_VERIFIED as ACR_VERIFIED
from loginsite.oidc.config import LOCALES as LOCALES
from loginsite.oidc.config import SERVICE_LEVELS as SERVICE_LEVELS
from loginsite.oidc.config import ClientConfig

PREFIX = "loginsite."
ENV_PREFIX = "LOGINSITE_"
#: Read from the INI file only (see app_settings), never from the environment.
INI_ONLY = ("loginsite.environment",)

log = logging.getLogger(__name__)

PROMPTS = ("select_account", "login", "none", "consent")

MIN_SESSION_KEY_BYTES = 32
_KID_RE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_PLACEHOLDER_WORDS = ("change", "secret", "password", "example", "placeholder", "dummy", "xxxxxx")


#: Where the sign-in views are served unless ``loginsite.auth.prefix`` says otherwise.
AUTH_PREFIX = "/auth"
#: Below the prefix: the two paths registered with login.gov (``loginsite-keygen`` prints them).
CALLBACK = "/callback"
SIGNED_OUT = "/signed-out"
#: The layout the sign-in pages extend unless ``loginsite.auth.layout`` names the host app's.
PLAIN_LAYOUT = "loginsite:templates/plain_layout.html"
_PREFIX_SEGMENT = re.compile(r"[A-Za-z0-9_~-][A-Za-z0-9._~-]*")

#: Where ``loginsite.devidp`` serves the development provider, below ``public_url``.
DEVIDP_PATH = "/_devidp/"


class SettingsError(ValueError):
    """A setting is missing or wrong; the message names it and says what is expected."""

    def __init__(self, name: str, problem: str) -> None:
        self.setting = name
        self.env_var = env_var_name(name)
        self.problem = problem
        super().__init__(f"{name} (or env {self.env_var}): {problem}")


class SettingsExit(SystemExit, SettingsError):
    """A :class:`SettingsError` that ends ``pserve`` with its one-line message, no traceback.

    Still a ``SettingsError``, so code that loads the app (tests, ``get_app``) catches it as one.
    """

    def __init__(self, error: SettingsError) -> None:
        SystemExit.__init__(self, f"loginsite: {error}")
        self.setting = error.setting
        self.env_var = error.env_var
        self.problem = error.problem


def env_var_name(setting: str) -> str:
    return setting.upper().replace(".", "_")


#: The one state a key ring entry can name after its secret: ``KID:SECRET:verify``.
VERIFY_ONLY = "verify"


@dataclass(frozen=True)
class SessionKey:
    """One entry of the session key ring: it signs, or (``verify_only``) it only verifies.

    A verify-only key is how a rolling deploy rotates keys without signing anyone out: the new
    key is first deployed everywhere as verify-only, then promoted to signing while the old key
    becomes verify-only, then the old key is retired (README "Key rotation").
    """

    kid: str
    secret: bytes
    verify_only: bool = False

    def __repr__(self) -> str:  # never print the secret
        state = ", verify_only=True" if self.verify_only else ""
        return f"SessionKey(kid={self.kid!r}{state})"


def signing_key_of(keys: Sequence[SessionKey]) -> SessionKey:
    """The one key of a ring that signs; ValueError unless exactly one key does.

    Everything signed with the session key ring (session tokens, sign-in transaction cookies,
    sign-out receipts, revocation entries) signs with this key and verifies with all of them.
    """
    signing = [key for key in keys if not key.verify_only]
    if len(signing) != 1:
        kids = ", ".join(key.kid for key in signing) or "none"
        raise ValueError(f"a session key ring needs exactly one signing key, not: {kids}")
    return signing[0]


def cookie_name_on_wire(name: str, *, secure: bool) -> str:
    """Every cookie the app sets is named here: ``__Host-`` when secure, which pins it to this
    host, https and Path=/ (RFC 6265bis), so a sibling subdomain cannot set or shadow it."""
    return f"__Host-{name}" if secure else name


@dataclass(frozen=True)
class SessionSettings:
    #: The key ring in the order configured: exactly one key signs, every key verifies.
    keys: tuple[SessionKey, ...]
    idle_timeout: int = 900
    max_age: int = 43200
    cookie_name: str = "loginsite"
    secure: bool = True

    def __post_init__(self) -> None:
        signing_key_of(self.keys)  # raises unless exactly one key signs

    @property
    def signing_key(self) -> SessionKey:
        return signing_key_of(self.keys)

    @property
    def verify_only_keys(self) -> tuple[SessionKey, ...]:
        return tuple(key for key in self.keys if key.verify_only)

    @property
    def cookie_name_on_wire(self) -> str:
        return cookie_name_on_wire(self.cookie_name, secure=self.secure)


DEFAULT_REVOCATION_JOURNAL = Path("var/revocation-journal.sqlite3")


@dataclass(frozen=True)
class RevocationSettings:
    store: Literal["memory", "redis", "none"] = "memory"
    redis_url: str | None = None
    key_prefix: str = "loginsite:revocation:"
    redis_timeout: float = 1.0
    #: Seconds an instance answers from its last synced list while it cannot reach Redis.
    max_staleness: float = 30.0
    #: Seconds two servers' clocks (and Redis's) may differ by.
    clock_skew: int = 5
    #: The session idle timeout: with the two above, how long an entry must live.
    idle_timeout: int = 900
    #: The durable local journal of revocations not yet in Redis (redis store only).
    journal: Path = DEFAULT_REVOCATION_JOURNAL
    sentinels: tuple[tuple[str, int], ...] = ()
    sentinel_master: str | None = None
    sentinel_username: str | None = None
    sentinel_password: str | None = None
    redis_username: str | None = None
    redis_password: str | None = None
    #: Replicas that must acknowledge a write (Redis WAIT) before it leaves the journal.
    wait_replicas: int = 0
    #: The session key ring: entries in Redis carry a MAC keyed from it (redis store only).
    mac_keys: tuple[SessionKey, ...] = ()

    def __repr__(self) -> str:  # never print a password or a key
        return f"RevocationSettings(store={self.store!r}, key_prefix={self.key_prefix!r})"


@dataclass(frozen=True)
class DevIdpSettings:
    data_dir: Path


#: Where login.gov pushes Security Event Tokens; register PUBLIC_URL + this in the partner portal.
SECURITY_EVENTS_PATH = "/api/security-events"


def _default_security_event_actions() -> dict[str, str]:
    from loginsite.oidc.security_event import DEFAULT_ACTIONS

    return dict(DEFAULT_ACTIONS)


@dataclass(frozen=True)
class SecurityEventSettings:
    """What each Security Event Token type does: ``end-sessions`` or ``record``."""

    #: event type URI -> action; types not listed are recorded
    actions: Mapping[str, str] = field(default_factory=_default_security_event_actions)

    def action_for(self, event_type: str) -> str:
        """Unknown event types are recorded (RFC 8935: accepted, not acted on)."""
        return self.actions.get(event_type, "record")


@dataclass(frozen=True)
class OperationsSettings:
    """Running the site: metrics, the access log, and risks a deployment has accepted."""

    #: (host, port) of the Prometheus listener, or None: no metrics are collected at all.
    metrics_listen: tuple[str, int] | None = None
    access_log: bool = True
    #: ``loginsite.revocation.accept_unshared``: production may run the memory or none store.
    accept_unshared_revocation: bool = False


#: The languages the pages are written in: English (the source) and each catalog in
#: ``loginsite/locale`` (tests/test_i18n_catalog.py checks the two agree).
LANGUAGES = ("en", "es")


@dataclass(frozen=True)
class LanguageSettings:
    """Which languages the pages offer, and the one for a visitor who asks for none of them."""

    available: tuple[str, ...] = LANGUAGES
    default: str = "en"


#: The identifier's required links (USWDS): setting suffix -> the site path that stands in for
#: the page until it is configured (a placeholder page saying so, see loginsite.web.site).
IDENTIFIER_LINKS = {
    "about": "/about",
    "accessibility": "/accessibility",
    "foia": "/foia",
    "no_fear_act": "/no-fear-act",
    "privacy": "/privacy",
}
DEFAULT_SITE_NAME = "Example Service"
DEFAULT_AGENCY_NAME = "Example Agency"
DEFAULT_DISPLAY_TIMEZONE = "America/New_York"
_MAX_NAME = 120


@dataclass(frozen=True)
class SiteSettings:
    """Who runs the site, as the pages say it: header, identifier footer, times."""

    name: str = DEFAULT_SITE_NAME
    agency_name: str = DEFAULT_AGENCY_NAME
    #: The agency's home page (the identifier links its name); default: the About link.
    agency_url: str = IDENTIFIER_LINKS["about"]
    #: about, accessibility, foia, no_fear_act, privacy -> absolute URL or site path
    links: Mapping[str, str] = field(default_factory=lambda: dict(IDENTIFIER_LINKS))
    #: IANA zone for the times the pages show, e.g. "3:21 PM Eastern".
    display_timezone: str = DEFAULT_DISPLAY_TIMEZONE

    @property
    def placeholder_links(self) -> dict[str, str]:
        """The links still at their development default: the site serves a page for each."""
        return {k: v for k, v in self.links.items() if v == IDENTIFIER_LINKS[k]}


@dataclass(frozen=True)
class AuthSettings:
    """Where the sign-in views are served, and the Jinja2 layout their pages extend."""

    prefix: str = AUTH_PREFIX
    layout: str = PLAIN_LAYOUT

    @property
    def callback_path(self) -> str:
        return self.prefix + CALLBACK

    @property
    def signed_out_path(self) -> str:
        return self.prefix + SIGNED_OUT


@dataclass(frozen=True)
class AppSettings:
    environment: Literal["development", "production"]
    public_url: str
    session: SessionSettings
    revocation: RevocationSettings
    #: the OIDC client's own config type, built here from ``loginsite.idp.*``
    idp: ClientConfig
    devidp: DevIdpSettings | None
    security_events: SecurityEventSettings = field(default_factory=SecurityEventSettings)
    operations: OperationsSettings = field(default_factory=OperationsSettings)
    languages: LanguageSettings = field(default_factory=LanguageSettings)
    site: SiteSettings = field(default_factory=SiteSettings)
    auth: AuthSettings = field(default_factory=AuthSettings)

    @property
    def security_events_url(self) -> str:
        """The ``aud`` of the SETs login.gov pushes here: the URL registered in its portal."""
        return self.public_url + SECURITY_EVENTS_PATH

    @property
    def redirect_uri(self) -> str:
        return self.public_url + self.auth.callback_path

    @property
    def post_logout_redirect_uri(self) -> str:
        return self.public_url + self.auth.signed_out_path


class RawSettings:
    """INI values overlaid by environment variables, read one typed value at a time."""

    def __init__(self, ini: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> None:
        self._ini = ini
        self._environ = os.environ if environ is None else environ
        #: Every name asked for: the settings this version knows (read each one, even when
        #: its value turns out not to matter, or it will be reported as unknown).
        self.read: set[str] = set()

    def get(self, name: str) -> str | None:
        self.read.add(name)
        value = self._environ.get(env_var_name(name))
        if value is None:
            value = self._ini.get(name)
        if value is None:
            return None
        value = str(value).strip()
        return value or None

    def required(self, name: str, what: str) -> str:
        value = self.get(name)
        if value is None:
            raise SettingsError(name, f"is required: {what}")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: str) -> str:
        value = self.get(name) or default
        if value not in choices:
            raise SettingsError(name, f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.get(name)
        if value is None:
            return default
        lowered = value.lower()
        if lowered in ("true", "yes", "on", "1"):
            return True
        if lowered in ("false", "no", "off", "0"):
            return False
        raise SettingsError(name, f"must be true or false, not {value!r}")

    def seconds(self, name: str, default: int) -> int:
        return self._number(name, default, int, "a whole number of seconds greater than 0")

    def positive_float(self, name: str, default: float) -> float:
        return self._number(name, default, float, "a number of seconds greater than 0")

    def count(self, name: str, default: int) -> int:
        return self._number(name, default, int, "a whole number greater than 0")

    _N = TypeVar("_N", int, float)

    def _number(self, name: str, default: _N, kind: Callable[[str], _N], what: str) -> _N:
        value = self.get(name)
        if value is None:
            return default
        try:
            number = kind(value)
        except ValueError:
            raise SettingsError(name, f"must be {what}, not {value!r}") from None
        if number <= 0:
            raise SettingsError(name, f"must be {what}, not {value!r}")
        return number


def _looks_like_placeholder(secret_text: str) -> bool:
    """Few distinct characters, or a stand-in word as people write it (lower, UPPER, Title).

    Matching the words in exactly those spellings, not in any mix of cases, keeps a random key
    from being refused: ``secrets.token_urlsafe(32)`` contains one of them about once in ten
    million draws (a case-insensitive ``xxxx`` alone matched one draw in 25,000).
    """
    if len(set(secret_text)) < 16:
        return True
    return any(
        spelling in secret_text
        for word in _PLACEHOLDER_WORDS
        for spelling in (word, word.upper(), word.capitalize())
    )


def parse_session_keys(name: str, text: str) -> tuple[SessionKey, ...]:
    """Parse whitespace-separated ``KID:SECRET`` (signs) and ``KID:SECRET:verify`` (verify-only)
    entries: exactly one entry signs, every entry verifies.

    Exactly one, not "the first": during a rotation, a new key added without ``:verify`` would
    start signing on that instance while instances not yet deployed cannot verify it, and their
    users would be signed out. So two signing keys are an error, not a precedence rule.
    """
    keys: list[SessionKey] = []
    for entry in text.split():
        kid, sep, rest = entry.partition(":")
        secret_text, _, state = rest.partition(":")
        if not sep or not _KID_RE.match(kid):
            raise SettingsError(
                name,
                "expected whitespace-separated KID:SECRET entries (KID:SECRET:verify for a "
                "verify-only key), KID of letters, digits, '.', '_' or '-' (up to 32)",
            )
        if state not in ("", VERIFY_ONLY) or rest.endswith(":"):
            raise SettingsError(
                name,
                f"key {kid!r} ends in {':' + state!r}: the only state an entry can name is "
                f"':{VERIFY_ONLY}' (KID:SECRET:{VERIFY_ONLY}, a key that verifies but never signs)",
            )
        if any(k.kid == kid for k in keys):
            raise SettingsError(name, f"key id {kid!r} appears twice")
        if _looks_like_placeholder(secret_text):
            raise SettingsError(
                name,
                f"key {kid!r} looks like a placeholder; generate one with "
                "`loginsite-keygen --session-key` or "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`",
            )
        try:
            secret = base64.urlsafe_b64decode(secret_text + "=" * (-len(secret_text) % 4))
        except (binascii.Error, ValueError):
            raise SettingsError(name, f"key {kid!r} is not base64url") from None
        if len(secret) < MIN_SESSION_KEY_BYTES:
            raise SettingsError(
                name,
                f"key {kid!r} has {len(secret)} bytes; at least {MIN_SESSION_KEY_BYTES} "
                "random bytes are required (secrets.token_urlsafe(32))",
            )
        keys.append(SessionKey(kid, secret, verify_only=state == VERIFY_ONLY))
    if not keys:
        raise SettingsError(name, "holds no key")
    signing = [key.kid for key in keys if not key.verify_only]
    if not signing:
        raise SettingsError(
            name,
            f"has no signing key: every entry is verify-only (:{VERIFY_ONLY}); exactly one "
            f"entry must sign, written KID:SECRET without :{VERIFY_ONLY}",
        )
    if len(signing) > 1:
        others = " ".join(f"{kid}:SECRET:{VERIFY_ONLY}" for kid in signing[1:])
        raise SettingsError(
            name,
            f"has {len(signing)} signing keys ({', '.join(signing)}): exactly one entry signs, "
            f"the others must be marked verify-only, e.g. {signing[0]}:SECRET {others} "
            "(see the README's Key rotation)",
        )
    return tuple(keys)


def session_settings(raw: RawSettings) -> SessionSettings:
    keys_text = raw.get("loginsite.session.keys")
    keys_file = raw.get("loginsite.session.keys_file")
    if keys_text is not None:
        keys = parse_session_keys("loginsite.session.keys", keys_text)
    else:
        if keys_file is None:
            raise SettingsError(
                "loginsite.session.keys",
                "is required: the session signing key ring (or loginsite.session.keys_file, "
                "a file holding it); `make run` creates one for development",
            )
        try:
            keys_text = Path(keys_file).read_text()
        except OSError as exc:
            raise SettingsError(
                "loginsite.session.keys_file", f"cannot read {keys_file}: {exc.strerror}"
            ) from None
        keys = parse_session_keys("loginsite.session.keys_file", keys_text)
    idle = raw.seconds("loginsite.session.idle_timeout", 900)
    max_age = raw.seconds("loginsite.session.max_age", 43200)
    if idle > max_age:
        raise SettingsError(
            "loginsite.session.idle_timeout",
            f"({idle}) cannot be longer than loginsite.session.max_age ({max_age})",
        )
    cookie_name = raw.get("loginsite.session.cookie_name") or "loginsite"
    if not re.match(r"^[A-Za-z0-9_-]{1,64}$", cookie_name) or cookie_name.startswith("__"):
        raise SettingsError(
            "loginsite.session.cookie_name",
            "must be 1-64 letters, digits, '_' or '-' and not start with '__' "
            "(the __Host- prefix is added when secure is on)",
        )
    return SessionSettings(
        keys=keys,
        idle_timeout=idle,
        max_age=max_age,
        cookie_name=cookie_name,
        secure=raw.boolean("loginsite.session.secure", True),
    )


def _sentinels(name: str, text: str) -> tuple[tuple[str, int], ...]:
    sentinels = []
    for entry in text.split():
        host, sep, port = entry.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise SettingsError(name, f"expected space-separated host:port entries, not {entry!r}")
        sentinels.append((host.strip("[]"), int(port)))
    return tuple(sentinels)


def revocation_settings(
    raw: RawSettings, session: SessionSettings | None = None
) -> RevocationSettings:
    """``session`` gives the idle timeout and the MAC key ring; without it they are read here."""
    if raw.get("loginsite.revocation.failure_mode") is not None:
        raise SettingsError(
            "loginsite.revocation.failure_mode",
            "was replaced by loginsite.revocation.max_staleness (seconds an instance keeps "
            "answering from its last synced list while Redis is unreachable, then fails "
            "closed; default 30): remove failure_mode and set max_staleness instead",
        )
    store = raw.choice("loginsite.revocation.store", ("memory", "redis", "none"), "memory")
    redis_url = raw.get("loginsite.revocation.redis_url")
    sentinels_text = raw.get("loginsite.revocation.sentinels")
    sentinels = _sentinels("loginsite.revocation.sentinels", sentinels_text or "")
    sentinel_master = raw.get("loginsite.revocation.sentinel_master")
    if store == "redis":
        if sentinels and redis_url is not None:
            raise SettingsError(
                "loginsite.revocation.sentinels",
                "and loginsite.revocation.redis_url are alternatives: set only one",
            )
        if sentinels and sentinel_master is None:
            raise SettingsError(
                "loginsite.revocation.sentinel_master",
                "is required with loginsite.revocation.sentinels (the master's name)",
            )
        if not sentinels and redis_url is None:
            raise SettingsError(
                "loginsite.revocation.redis_url",
                "is required when loginsite.revocation.store = redis (e.g. redis://host:6379/0), "
                "unless loginsite.revocation.sentinels is set",
            )
        if redis_url is not None and urlsplit(redis_url).scheme not in ("redis", "rediss", "unix"):
            raise SettingsError(
                "loginsite.revocation.redis_url", "must be a redis://, rediss:// or unix:// URL"
            )
        if session is None:
            session = session_settings(raw)
    max_staleness = raw.positive_float("loginsite.revocation.max_staleness", 30.0)
    redis_timeout = raw.positive_float("loginsite.revocation.redis_timeout", 1.0)
    if store == "redis" and max_staleness < 2 * redis_timeout + 1:
        raise SettingsError(
            "loginsite.revocation.max_staleness",
            f"({max_staleness:g}) must be at least 2 x loginsite.revocation.redis_timeout + 1 s "
            f"({2 * redis_timeout + 1:g}): a healthy sync is that stale between two reads",
        )
    skew = raw.get("loginsite.revocation.clock_skew")
    if skew is not None and (not skew.isdigit() or int(skew) > 300):
        raise SettingsError(
            "loginsite.revocation.clock_skew", "must be whole seconds between 0 and 300"
        )
    wait_replicas = raw.get("loginsite.revocation.wait_replicas")
    if wait_replicas is not None and (not wait_replicas.isdigit() or int(wait_replicas) > 10):
        raise SettingsError(
            "loginsite.revocation.wait_replicas", "must be a whole number between 0 and 10"
        )
    idle_timeout = (
        session.idle_timeout
        if session is not None
        else raw.seconds("loginsite.session.idle_timeout", 900)
    )
    return RevocationSettings(
        store=store,  # type: ignore[arg-type]
        redis_url=redis_url,
        key_prefix=raw.get("loginsite.revocation.key_prefix") or "loginsite:revocation:",
        redis_timeout=redis_timeout,
        max_staleness=max_staleness,
        clock_skew=int(skew) if skew is not None else 5,
        idle_timeout=idle_timeout,
        journal=Path(raw.get("loginsite.revocation.journal") or DEFAULT_REVOCATION_JOURNAL),
        sentinels=sentinels,
        sentinel_master=sentinel_master,
        sentinel_username=raw.get("loginsite.revocation.sentinel_username"),
        sentinel_password=raw.get("loginsite.revocation.sentinel_password"),
        redis_username=raw.get("loginsite.revocation.redis_username"),
        redis_password=raw.get("loginsite.revocation.redis_password"),
        wait_replicas=int(wait_replicas) if wait_replicas is not None else 0,
        mac_keys=session.keys if session is not None else (),
    )


def _base_url(name: str, value: str, *, allow_http: bool) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc:
        raise SettingsError(name, f"must be an absolute https:// URL, not {value!r}")
    if parts.scheme == "http" and not allow_http:
        raise SettingsError(name, f"must use https in this environment, not {value!r}")
    if parts.query or parts.fragment or "@" in parts.netloc:
        raise SettingsError(name, "must not carry credentials, a query or a fragment")
    return value


def parse_public_url(value: str, *, allow_http: bool) -> str:
    """``loginsite.public_url``: an absolute bare origin; https unless ``allow_http``.

    ``loginsite-keygen --public-url`` applies the same rules, so the redirect URIs it prints
    are ones the app will accept.
    """
    public_url = _base_url("loginsite.public_url", value, allow_http=allow_http).rstrip("/")
    if urlsplit(public_url).path:
        raise SettingsError("loginsite.public_url", "must be a bare origin, with no path")
    return public_url


def load_private_key_pem(name: str, value: str) -> bytes:
    """The value is the PEM itself (typical for an env var) or a path to a PEM file."""
    if value.startswith("-----BEGIN"):
        pem = value.encode()
    else:
        try:
            pem = Path(value).read_bytes()
        except OSError as exc:
            raise SettingsError(
                name, f"cannot read the private key {value}: {exc.strerror}"
            ) from None
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise SettingsError(name, "is not an unencrypted PEM private key") from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < 2048:
        raise SettingsError(name, "must be an RSA private key of at least 2048 bits")
    return pem


def idp_settings(
    raw: RawSettings,
    *,
    development: bool,
    public_url: str,
    default_issuer: str | None = None,
    auth: AuthSettings | None = None,
) -> ClientConfig:
    """The OIDC client's config; its redirect URIs come from ``public_url`` and the sign-in
    views' prefix (``auth``), never a request.

    ``default_issuer`` is the built-in development provider's, when it is included.
    """
    allow_http = raw.boolean("loginsite.idp.allow_http", False)
    if allow_http and not development:
        raise SettingsError(
            "loginsite.idp.allow_http", "may only be set when loginsite.environment = development"
        )
    issuer = _base_url(
        "loginsite.idp.issuer",
        raw.get("loginsite.idp.issuer")
        or default_issuer
        or raw.required(
            "loginsite.idp.issuer", "the provider's issuer, e.g. https://secure.login.gov/"
        ),
        allow_http=allow_http,
    )
    client_id = raw.required(
        "loginsite.idp.client_id", "the client_id registered with login.gov (its 'issuer')"
    )
    pem = load_private_key_pem(
        "loginsite.idp.private_key",
        raw.required(
            "loginsite.idp.private_key",
            "path to the client's RSA private key PEM (or the PEM itself in the env var)",
        ),
    )
    cert = raw.get("loginsite.idp.certificate")
    acr_values = tuple((raw.get("loginsite.idp.acr_values") or ACR_AUTH_ONLY).split())
    levels = [v for v in acr_values if v in SERVICE_LEVELS]
    if len(levels) != 1:
        raise SettingsError(
            "loginsite.idp.acr_values",
            f"must hold exactly one service level ({' or '.join(SERVICE_LEVELS)})",
        )
    scope = tuple((raw.get("loginsite.idp.scope") or "openid email").split())
    if "openid" not in scope:
        raise SettingsError("loginsite.idp.scope", "must include openid")
    locale = raw.get("loginsite.idp.locale")
    if locale is not None and locale not in LOCALES:
        raise SettingsError("loginsite.idp.locale", f"must be one of {', '.join(LOCALES)}")
    prompt = raw.choice("loginsite.idp.prompt", PROMPTS, "select_account")
    leeway = raw.get("loginsite.idp.leeway")
    if leeway is not None and (not leeway.isdigit() or int(leeway) > 300):
        raise SettingsError("loginsite.idp.leeway", "must be whole seconds between 0 and 300")
    return ClientConfig(
        issuer=issuer,
        client_id=client_id,
        redirect_uri=public_url + (auth or AuthSettings()).callback_path,
        post_logout_redirect_uri=public_url + (auth or AuthSettings()).signed_out_path,
        private_key_pem=pem,
        certificate_path=Path(cert) if cert else None,
        acr_values=acr_values,
        scope=scope,
        prompt=prompt,
        locale=locale,
        timeout=raw.positive_float("loginsite.idp.timeout", 5.0),
        metadata_ttl=raw.seconds("loginsite.idp.metadata_ttl", 3600),
        leeway=int(leeway) if leeway is not None else 30,
        allow_http=allow_http,
        max_concurrent_calls=raw.count(
            "loginsite.idp.max_concurrent_calls", ClientConfig.max_concurrent_calls
        ),
    )


def parse_auth_prefix(name: str, value: str) -> str:
    """A path such as ``/auth`` or ``/account/login-gov``: below it are ``/login``,
    ``/callback``, ``/logout`` and ``/signed-out``. A trailing slash is dropped."""
    prefix = value.rstrip("/")
    segments = prefix.split("/")
    if (
        not value.startswith("/")
        or not prefix
        or not all(_PREFIX_SEGMENT.fullmatch(segment) for segment in segments[1:])
    ):
        raise SettingsError(
            name,
            f"must be a path below the site's root such as /auth or /account/login-gov "
            f"(letters, digits and ._~- between the slashes), not {value!r}",
        )
    return prefix


def parse_layout(name: str, value: str) -> str:
    """An asset spec (``myapp:templates/layout.jinja2``) naming a Jinja2 template that exists."""
    from pyramid.path import AssetResolver

    package, sep, path = value.partition(":")
    if not sep or not package or not path:
        raise SettingsError(
            name,
            f"must be the asset spec of a Jinja2 template, such as "
            f"myapp:templates/layout.jinja2, not {value!r}",
        )
    try:
        found = AssetResolver().resolve(value).exists()
    except (ImportError, ValueError) as exc:
        raise SettingsError(name, f"cannot find {value!r}: {exc}") from None
    if not found:
        raise SettingsError(name, f"there is no template {path!r} in package {package!r}")
    return value


def auth_settings(raw: RawSettings) -> AuthSettings:
    prefix = raw.get("loginsite.auth.prefix")
    layout = raw.get("loginsite.auth.layout")
    return AuthSettings(
        prefix=parse_auth_prefix("loginsite.auth.prefix", prefix) if prefix else AUTH_PREFIX,
        layout=parse_layout("loginsite.auth.layout", layout) if layout else PLAIN_LAYOUT,
    )


def security_event_settings(raw: RawSettings) -> SecurityEventSettings:
    """``NAME=ACTION`` entries over the defaults; NAME a known event's short name (e.g.
    ``identifier-changed``) or a full event type URI, ACTION ``end-sessions`` or ``record``."""
    from loginsite.oidc.security_event import ACTIONS, DEFAULT_ACTIONS, EVENT_TYPES

    name = "loginsite.security_events.actions"
    actions = dict(DEFAULT_ACTIONS)
    text = raw.get(name) or ""
    for entry in re.sub(r"\s*=\s*", "=", text).split():
        event, sep, action = entry.partition("=")
        if not sep or not event or action not in ACTIONS:
            raise SettingsError(
                name,
                f"expected whitespace-separated EVENT=ACTION entries, ACTION one of "
                f"{', '.join(ACTIONS)}; got {entry!r}",
            )
        if event in EVENT_TYPES:
            event = EVENT_TYPES[event]
        elif not event.startswith("https://"):
            raise SettingsError(
                name,
                f"unknown event {event!r}: use one of {', '.join(EVENT_TYPES)} or a full "
                "https:// event type URI",
            )
        actions[event] = action
    return SecurityEventSettings(actions=actions)


def parse_listen(name: str, value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:9464`` for IPv6): where a separate listener binds (port 0: any
    free port, which the start-up log line names)."""
    host, sep, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or int(port) > 65535:
        raise SettingsError(
            name, f"must be host:port (e.g. 127.0.0.1:9464), or empty for none, not {value!r}"
        )
    return host, int(port)


def operations_settings(raw: RawSettings) -> OperationsSettings:
    listen = raw.get("loginsite.metrics.listen")
    return OperationsSettings(
        metrics_listen=parse_listen("loginsite.metrics.listen", listen) if listen else None,
        access_log=raw.boolean("loginsite.access_log", True),
        accept_unshared_revocation=raw.boolean("loginsite.revocation.accept_unshared", False),
    )


def language_settings(raw: RawSettings) -> LanguageSettings:
    """``loginsite.available_languages`` (each one must have a catalog) and
    ``loginsite.default_locale_name`` (one of them)."""
    text = raw.get("loginsite.available_languages")
    available = tuple(dict.fromkeys(text.split())) if text else LANGUAGES
    unknown = [code for code in available if code not in LANGUAGES]
    if unknown:
        raise SettingsError(
            "loginsite.available_languages",
            f"{', '.join(map(repr, unknown))}: no translation; use some of {' '.join(LANGUAGES)}",
        )
    default = raw.get("loginsite.default_locale_name") or available[0]
    if default not in available:
        raise SettingsError(
            "loginsite.default_locale_name",
            f"must be one of loginsite.available_languages ({' '.join(available)}), "
            f"not {default!r}",
        )
    return LanguageSettings(available=available, default=default)


def _display_name(raw: RawSettings, name: str, default: str) -> str:
    value = raw.get(name)
    if value is None:
        return default
    if len(value) > _MAX_NAME or any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise SettingsError(name, f"must be a name of at most {_MAX_NAME} printable characters")
    return value


def _link(raw: RawSettings, name: str, default: str, *, allow_http: bool) -> str:
    """An absolute https:// URL (http in development), or a path on this site."""
    value = raw.get(name)
    if value is None:
        return default
    if value.startswith("/") and not value.startswith("//") and not any(c in value for c in " \\"):
        return value
    parts = urlsplit(value)
    if parts.scheme not in ("https", "http") or not parts.netloc or "@" in parts.netloc:
        raise SettingsError(
            name, f"must be an absolute https:// URL or a path on this site, not {value!r}"
        )
    if parts.scheme == "http" and not allow_http:
        raise SettingsError(name, f"must use https in this environment, not {value!r}")
    return value


def parse_display_timezone(value: str) -> str:
    """An IANA time zone name the zoneinfo database knows (tzdata ships one if the OS has none)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            "loginsite.display_timezone",
            f"must be an IANA time zone such as America/New_York, not {value!r}",
        ) from None
    return value


def site_settings(raw: RawSettings, *, development: bool) -> SiteSettings:
    links = {
        key: _link(raw, f"loginsite.agency.{key}_url", default, allow_http=development)
        for key, default in IDENTIFIER_LINKS.items()
    }
    return SiteSettings(
        name=_display_name(raw, "loginsite.site_name", DEFAULT_SITE_NAME),
        agency_name=_display_name(raw, "loginsite.agency.name", DEFAULT_AGENCY_NAME),
        agency_url=_link(raw, "loginsite.agency.url", links["about"], allow_http=development),
        links=links,
        display_timezone=parse_display_timezone(
            raw.get("loginsite.display_timezone") or DEFAULT_DISPLAY_TIMEZONE
        ),
    )


@dataclass(frozen=True)
class UnknownSetting:
    """A ``loginsite.*`` INI key or ``LOGINSITE_*`` variable that nothing reads: a typo, or
    a setting of another version. Ignored, so it is reported rather than silently dropped."""

    name: str
    closest: str | None
    note: str = ""

    def __str__(self) -> str:
        if self.note:
            return f"{self.name} is ignored: {self.note}"
        hint = f"; the closest known setting is {self.closest}" if self.closest else ""
        return f"{self.name} is not a loginsite setting{hint}"


def unknown_settings(
    ini: Mapping[str, Any], environ: Mapping[str, str], known: set[str]
) -> list[UnknownSetting]:
    """The INI keys and environment variables under loginsite's prefix that are not ``known``."""
    found = []
    for name in sorted(k for k in ini if isinstance(k, str) and k.startswith(PREFIX)):
        if name not in known:
            found.append(UnknownSetting(name, _closest(name, known, len(PREFIX))))
    by_env = {env_var_name(name): name for name in known}
    for var in sorted(k for k in environ if k.startswith(ENV_PREFIX)):
        if by_env.get(var) in INI_ONLY:
            found.append(
                UnknownSetting(var, by_env[var], f"{by_env[var]} is read from the INI file only")
            )
        elif var not in by_env:
            found.append(UnknownSetting(var, _closest(var, set(by_env), len(ENV_PREFIX))))
    return found


def _closest(name: str, known: set[str], prefix_length: int) -> str | None:
    """The known name most like ``name``, compared without the prefix they all share."""
    candidates = {k[prefix_length:]: k for k in known}
    match = difflib.get_close_matches(name[prefix_length:], sorted(candidates), n=1, cutoff=0.7)
    return candidates[match[0]] if match else None


@dataclass(frozen=True)
class ParsedSettings:
    """Everything one parse found: the settings if all is well, else every error, and the
    parts that did parse (so ``loginsite-check`` can go on checking what they describe)."""

    settings: AppSettings | None
    errors: tuple[SettingsError, ...] = ()
    unknown: tuple[UnknownSetting, ...] = ()
    environment: str | None = None
    public_url: str | None = None
    session: SessionSettings | None = None
    revocation: RevocationSettings | None = None
    idp: ClientConfig | None = None
    security_events: SecurityEventSettings | None = None
    auth: AuthSettings | None = None


_T = TypeVar("_T")


def parse_settings(
    ini: Mapping[str, Any], environ: Mapping[str, str] | None = None
) -> ParsedSettings:
    """Parse every part even when another part fails, so that one run names every problem."""
    environ = os.environ if environ is None else environ
    raw = RawSettings(ini, environ)
    errors: list[SettingsError] = []

    def part(parse: Callable[[], _T]) -> _T | None:
        try:
            return parse()
        except SettingsError as exc:
            # A part that needs a failed one may meet the same error again: name it once.
            if all(str(exc) != str(seen) for seen in errors):
                errors.append(exc)
            return None

    # Read from the INI file only: an environment variable must never be able to switch a
    # production deployment into development mode (plain http, the development provider).
    ini_only = RawSettings(ini, {})
    environment = part(
        lambda: ini_only.choice(
            "loginsite.environment", ("development", "production"), "production"
        )
    )
    development = environment == "development"
    session = part(lambda: session_settings(raw))
    secure = session.secure if session is not None else _secure_or_default(raw)
    public_url = part(
        lambda: parse_public_url(
            raw.required(
                "loginsite.public_url", "the site's external base URL, e.g. https://example.gov"
            ),
            allow_http=development and not secure,
        )
    )
    # The development provider is served by this app, so its issuer follows public_url.
    includes = ini.get("pyramid.includes") or ()
    if isinstance(includes, str):
        includes = includes.split()
    devidp_included = "loginsite.devidp" in includes
    data_dir = raw.get("loginsite.devidp.data_dir")
    devidp = DevIdpSettings(data_dir=Path(data_dir)) if data_dir else None
    revocation = part(lambda: revocation_settings(raw, session))
    auth = part(lambda: auth_settings(raw))
    # (With public_url or auth in error, a stand-in is used: no settings come out of this parse.)
    site_url = public_url or "http://localhost"
    idp = part(
        lambda: idp_settings(
            raw,
            development=development,
            public_url=site_url,
            default_issuer=site_url + DEVIDP_PATH if development and devidp_included else None,
            auth=auth,
        )
    )
    security_events = part(lambda: security_event_settings(raw))
    operations = part(lambda: operations_settings(raw))
    languages = part(lambda: language_settings(raw))
    site = part(lambda: site_settings(raw, development=development))
    # A part that failed may have stopped before reading all its names: report unknown
    # names only where they cannot be that part's.
    failed = {_part_of(exc.setting) for exc in errors}
    unknown = tuple(
        item
        for item in unknown_settings(ini, environ, raw.read | ini_only.read)
        if _part_of(item.name) not in failed
    )
    parts = {
        "environment": environment,
        "public_url": public_url,
        "session": session,
        "revocation": revocation,
        "idp": idp,
        "security_events": security_events,
        "auth": auth,
    }
    if (
        errors
        or environment is None
        or session is None
        or public_url is None
        or revocation is None
        or idp is None
        or security_events is None
        or operations is None
        or languages is None
        or site is None
        or auth is None
    ):
        return ParsedSettings(None, tuple(errors), unknown, **parts)
    settings = AppSettings(
        environment=environment,  # type: ignore[arg-type]
        public_url=public_url,
        session=session,
        revocation=revocation,
        idp=idp,
        devidp=devidp,
        security_events=security_events,
        operations=operations,
        languages=languages,
        site=site,
        auth=auth,
    )
    return ParsedSettings(settings, (), unknown, **parts)


def _secure_or_default(raw: RawSettings) -> bool:
    """``session.secure`` for the other parts when the session part failed (its error is
    reported once, by that part)."""
    try:
        return raw.boolean("loginsite.session.secure", True)
    except SettingsError:
        return True


def _part_of(name: str) -> str:
    """``loginsite.session.keys`` and ``LOGINSITE_SESSION_KEYS`` are in part ``session``."""
    words = name.lower().replace("_", ".").split(".")
    return words[1] if len(words) > 2 else ""


def app_settings(ini: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> AppSettings:
    """Parse and validate every loginsite setting; raises the first :class:`SettingsError`."""
    parsed = parse_settings(ini, environ)
    if parsed.errors:
        raise parsed.errors[0]
    assert parsed.settings is not None
    return parsed.settings


SETTINGS_KEY = "loginsite.app_settings"


def includeme(config: Any) -> None:
    """Parse everything once; later includes read the typed result from the registry.

    Unknown ``loginsite.*`` settings do not stop the app (one may belong to a newer version
    being rolled out), but each gets a WARNING with the closest known name.
    """
    if SETTINGS_KEY not in config.registry:
        parsed = parse_settings(config.get_settings())
        if parsed.errors:
            raise parsed.errors[0]
        for item in parsed.unknown:
            log.warning(
                "settings.unknown setting=%s closest=%s message=%r",
                item.name,
                item.closest or "-",
                str(item),
            )
        config.registry[SETTINGS_KEY] = parsed.settings


def get_app_settings(registry: Any) -> AppSettings:
    return registry[SETTINGS_KEY]
