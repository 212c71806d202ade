"""One small WSGI app per variant, all serving the same view: the authenticated user id.

Every app has ``/whoami`` (the timed view: the user id, or ``-`` when anonymous) and ``/login``
(``remember()`` for the benchmark user, used only to obtain a session cookie). loginsite's
variants are built exactly as another app would include the policy (``loginsite.session`` from
settings, with the real revocation store); ``/revoke`` there ends the presented session, so the
checks can prove a revoked session is refused.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
from pyramid.authentication import AuthTktCookieHelper, SessionAuthenticationHelper
from pyramid.config import Configurator
from pyramid.interfaces import ISecurityPolicy
from pyramid.response import Response
from pyramid.security import remember
from pyramid.session import SignedCookieSessionFactory
from zope.interface import implementer

from loginsite.credentials import new_session_key_entry

WSGIApp = Callable[..., Any]

#: A realistic login.gov identity: a UUID ``sub`` and a ~30-character email.
USER_ID = "6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11"
EMAIL = "alice.johnson@agency-example.gov"
ANONYMOUS = "-"


@dataclass(frozen=True)
class BenchConfig:
    """What every variant's app is built from; JSON-able, so a server subprocess gets the same."""

    #: Two keys named as ``loginsite-keygen`` names them (the kid is in every cookie): today's
    #: signs, one from 90 days ago is verify-only.
    session_keys: str = field(
        default_factory=lambda: " ".join(
            (
                new_session_key_entry(),
                new_session_key_entry(datetime.date.today() - datetime.timedelta(days=90))
                + ":verify",
            )
        )
    )
    secret: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    redis_url: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def from_json(cls, text: str) -> BenchConfig:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Variant:
    name: str
    label: str
    build: Callable[[BenchConfig], WSGIApp]
    #: False for the bare apps: they have no policy, the view always answers ``-``.
    authenticates: bool = True
    #: The bare control is sent the session cookie another variant issues.
    cookie_from: str | None = None
    uses_redis: bool = False
    #: loginsite's apps have ``/revoke``.
    revocable: bool = False


# The one view every variant serves.


def whoami(request: Any) -> Response:
    return Response(request.authenticated_userid or ANONYMOUS, content_type="text/plain")


def login(request: Any) -> Response:
    return Response(
        "ok", content_type="text/plain", headers=remember(request, USER_ID, email=EMAIL)
    )


def _configurator(settings: dict[str, str] | None = None) -> Configurator:
    config = Configurator(settings=settings or {})
    config.add_route("whoami", "/whoami")
    config.add_view(whoami, route_name="whoami")
    config.add_route("login", "/login")
    config.add_view(login, route_name="login")
    return config


# 1. Bare Pyramid: the floor (and, sent a cookie, the noise control).


def bare_app(cfg: BenchConfig) -> WSGIApp:
    return _configurator().make_wsgi_app()


# 2. loginsite, as shipped: the real policy from settings, the real revocation store.


def _revoke(request: Any) -> Response:
    from loginsite.revocation import get_revocation_store, revoke_session

    identity = request.identity
    if identity is not None:
        store = get_revocation_store(request.registry)
        revoke_session(store, identity.session_id, expires_at=identity.deadline)
    return Response("revoked", content_type="text/plain")


def loginsite_settings(cfg: BenchConfig, store: str) -> dict[str, str]:
    settings = {"loginsite.session.keys": cfg.session_keys, "loginsite.revocation.store": store}
    if store == "redis":
        if cfg.redis_url is None:
            raise RuntimeError("the redis revocation store needs a redis_url")
        settings["loginsite.revocation.redis_url"] = cfg.redis_url
        # Each process its own journal, out of the working tree.
        journal = Path(tempfile.gettempdir()) / f"loginsite-bench-journal-{os.getpid()}.sqlite3"
        settings["loginsite.revocation.journal"] = str(journal)
    return settings


def _loginsite_app(
    cfg: BenchConfig, store: str, *, cache: bool = True, access_log: bool | None = None
) -> WSGIApp:
    """``access_log`` not None: with the site's request tween and metrics
    (``loginsite.operations``), the access log on or off."""
    settings = loginsite_settings(cfg, store)
    if access_log is not None:
        settings["loginsite.access_log"] = str(access_log).lower()
    config = _configurator(settings)
    config.include("loginsite.session")
    if access_log is not None:
        from pyramid.tweens import INGRESS

        from loginsite.operations.metrics import METRICS_KEY, SiteMetrics
        from loginsite.revocation import get_revocation_store

        config.registry[METRICS_KEY] = SiteMetrics(get_revocation_store(config.registry))
        config.add_tween("loginsite.operations.request_log.request_tween_factory", under=INGRESS)
    config.add_route("revoke", "/revoke")
    config.add_view(_revoke, route_name="revoke")
    app = config.make_wsgi_app()
    policy = app.registry.getUtility(ISecurityPolicy)
    if not cache:
        from loginsite.session import SessionCodec

        old = policy.codec
        policy.codec = SessionCodec(
            policy.settings.keys,
            idle_timeout=old.idle_timeout,
            max_age=old.max_age,
            clock=old.clock,
            cache_size=0,
        )
    if store == "redis":
        _wait_for_revocation_sync(app)
    return app


def _wait_for_revocation_sync(app: WSGIApp, timeout: float = 10.0) -> None:
    """The redis store fails closed until its first load; don't time that."""
    from loginsite.revocation import RevocationUnavailable, get_revocation_store

    store = get_revocation_store(app.registry)
    deadline = time.monotonic() + timeout
    while True:
        try:
            store.is_revoked("probe", "probe", 0)
            return
        except RevocationUnavailable:
            if time.monotonic() > deadline:
                raise RuntimeError("the redis revocation store did not sync") from None
            time.sleep(0.05)


def loginsite_memory_app(cfg: BenchConfig) -> WSGIApp:
    return _loginsite_app(cfg, "memory")


def loginsite_redis_app(cfg: BenchConfig) -> WSGIApp:
    return _loginsite_app(cfg, "redis")


def loginsite_nocache_app(cfg: BenchConfig) -> WSGIApp:
    return _loginsite_app(cfg, "memory", cache=False)


# 2b. loginsite with the site's request tween (loginsite.operations): metrics on, then the
# access log too, written as production.ini writes it (JSON lines) to /dev/null.


def _access_log_to_devnull() -> None:
    import logging
    import os

    from pythonjsonlogger.json import JsonFormatter

    from loginsite.operations.logs import RequestIdStreamHandler

    logger = logging.getLogger("loginsite.access")
    if logger.handlers:
        return
    handler = RequestIdStreamHandler(open(os.devnull, "w"))  # noqa: SIM115 (lives with the process)
    handler.setFormatter(
        JsonFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(threadName)s",
            datefmt="%Y-%m-%dT%H:%M:%S%z",
        )
    )
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


def loginsite_metrics_app(cfg: BenchConfig) -> WSGIApp:
    return _loginsite_app(cfg, "memory", access_log=False)


def loginsite_access_log_app(cfg: BenchConfig) -> WSGIApp:
    _access_log_to_devnull()
    return _loginsite_app(cfg, "memory", access_log=True)


# 3. Pyramid's AuthTktCookieHelper in a minimal policy.


@implementer(ISecurityPolicy)
class AuthTktPolicy:
    def __init__(self, secret: str) -> None:
        self.helper = AuthTktCookieHelper(secret, hashalg="sha512")

    def identity(self, request: Any) -> Any:
        identity = self.helper.identify(request)
        return None if identity is None else identity["userid"]

    def authenticated_userid(self, request: Any) -> Any:
        return self.identity(request)

    def permits(self, request: Any, context: Any, permission: str) -> bool:
        return self.identity(request) is not None

    def remember(self, request: Any, userid: str, **kw: Any) -> list[tuple[str, str]]:
        return self.helper.remember(request, userid)

    def forget(self, request: Any, **kw: Any) -> list[tuple[str, str]]:
        return self.helper.forget(request)


def authtkt_app(cfg: BenchConfig) -> WSGIApp:
    config = _configurator()
    config.set_security_policy(AuthTktPolicy(cfg.secret))
    return config.make_wsgi_app()


# 4. and 6. A session (signed cookie, or server-side in Redis) + SessionAuthenticationHelper.


@implementer(ISecurityPolicy)
class SessionPolicy:
    def __init__(self) -> None:
        self.helper = SessionAuthenticationHelper()

    def identity(self, request: Any) -> Any:
        return self.helper.authenticated_userid(request)

    def authenticated_userid(self, request: Any) -> Any:
        return self.identity(request)

    def permits(self, request: Any, context: Any, permission: str) -> bool:
        return self.identity(request) is not None

    def remember(self, request: Any, userid: str, **kw: Any) -> list[tuple[str, str]]:
        return self.helper.remember(request, userid)

    def forget(self, request: Any, **kw: Any) -> list[tuple[str, str]]:
        return self.helper.forget(request)


def signed_cookie_app(cfg: BenchConfig) -> WSGIApp:
    config = _configurator()
    config.set_session_factory(SignedCookieSessionFactory(cfg.secret))
    config.set_security_policy(SessionPolicy())
    return config.make_wsgi_app()


def redis_session_app(cfg: BenchConfig) -> WSGIApp:
    from pyramid_session_redis import RedisSessionFactory

    if cfg.redis_url is None:
        raise RuntimeError("the redis session needs a redis_url")
    config = _configurator()
    config.set_session_factory(RedisSessionFactory(cfg.secret, redis_url=cfg.redis_url))
    config.set_security_policy(SessionPolicy())
    return config.make_wsgi_app()


# 5. The naive JWT design: PyJWT's jwt.decode (HS256, every claim required) on every request.

REQUIRED_CLAIMS = ["iss", "aud", "sub", "iat", "exp", "jti", "sit", "dl", "acr"]


@implementer(ISecurityPolicy)
class NaiveJWTPolicy:
    """The same token as loginsite's (minted by its codec), verified from scratch every time."""

    cookie_name = "__Host-loginsite"

    def __init__(self, cfg: BenchConfig) -> None:
        from loginsite.session import SessionCodec
        from loginsite.settings import parse_session_keys

        keys = parse_session_keys("keys", cfg.session_keys)
        self.secret = keys[0].secret
        self.codec = SessionCodec(keys[:1], idle_timeout=900, max_age=43200)

    def identity(self, request: Any) -> Any:
        from loginsite.session.token import AUDIENCE, ISSUER, unpack_sub

        value = request.cookies.get(self.cookie_name)
        if value is None:
            return None
        try:
            claims = jwt.decode(
                value,
                self.secret,
                algorithms=["HS256"],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.PyJWTError:
            return None
        return unpack_sub(claims["sub"])

    def authenticated_userid(self, request: Any) -> Any:
        return self.identity(request)

    def permits(self, request: Any, context: Any, permission: str) -> bool:
        return self.identity(request) is not None

    def remember(self, request: Any, userid: str, **kw: Any) -> list[tuple[str, str]]:
        value, _ = self.codec.mint(userid, email=kw.get("email"), acr="urn:acr.login.gov:auth-only")
        return [("Set-Cookie", f"{self.cookie_name}={value}; Path=/; HttpOnly; SameSite=Lax")]

    def forget(self, request: Any, **kw: Any) -> list[tuple[str, str]]:
        return [("Set-Cookie", f"{self.cookie_name}=; Max-Age=0; Path=/")]


def pyjwt_app(cfg: BenchConfig) -> WSGIApp:
    config = _configurator()
    config.set_security_policy(NaiveJWTPolicy(cfg))
    return config.make_wsgi_app()


VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant("bare", "bare Pyramid, no policy (the floor)", bare_app, authenticates=False),
        Variant(
            "bare_cookie",
            "bare Pyramid sent the loginsite cookie (control)",
            bare_app,
            authenticates=False,
            cookie_from="loginsite_memory",
        ),
        Variant(
            "loginsite_memory",
            "**loginsite**, revocation `memory`",
            loginsite_memory_app,
            revocable=True,
        ),
        Variant(
            "loginsite_redis",
            "**loginsite**, revocation `redis`",
            loginsite_redis_app,
            uses_redis=True,
            revocable=True,
        ),
        Variant(
            "loginsite_nocache",
            "loginsite, verified-token cache off (`cache_size=0`)",
            loginsite_nocache_app,
            revocable=True,
        ),
        Variant("authtkt", "Pyramid `AuthTktCookieHelper`", authtkt_app),
        Variant(
            "signed_cookie",
            "Pyramid `SignedCookieSessionFactory` + `SessionAuthenticationHelper`",
            signed_cookie_app,
        ),
        Variant("pyjwt", "naive PyJWT `jwt.decode` per request", pyjwt_app),
        Variant(
            "redis_session",
            "server-side session in Redis (`pyramid_session_redis`)",
            redis_session_app,
            uses_redis=True,
        ),
    )
}


#: The site's request tween with metrics, then with the access log too: timed in-process only
#: (``python -m benchmarks.run --inprocess-only``), against ``bare`` and ``loginsite_memory``.
OPERATIONS_VARIANTS: dict[str, Variant] = {
    v.name: v
    for v in (
        Variant(
            "loginsite_metrics",
            "loginsite `memory`, metrics on (request tween, Prometheus series)",
            loginsite_metrics_app,
            revocable=True,
        ),
        Variant(
            "loginsite_access_log",
            "loginsite `memory`, metrics and the JSON access log (to /dev/null)",
            loginsite_access_log_app,
            revocable=True,
        ),
    )
}

#: Every variant by name, whichever run times it.
ALL_VARIANTS: dict[str, Variant] = {**VARIANTS, **OPERATIONS_VARIANTS}


def build(name: str, cfg: BenchConfig) -> WSGIApp:
    return ALL_VARIANTS[name].build(cfg)


def tamper(value: str) -> str:
    """Change one character in the middle of a cookie value, keeping it well-formed base64."""
    middle = len(value) // 2
    for index in [*range(middle, len(value)), *range(middle)]:
        char = value[index]
        if char.isalnum():
            replacement = "A" if char != "A" else "B"
            return value[:index] + replacement + value[index + 1 :]
    raise ValueError("nothing to tamper with")
