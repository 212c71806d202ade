"""The security policy through real requests: a minimal host app includes it like a user would."""

from __future__ import annotations

import logging
import secrets
from dataclasses import replace
from typing import Any

import pytest
import webtest
from pyramid.config import Configurator
from pyramid.interfaces import ISecurityPolicy
from pyramid.response import Response
from pyramid.security import forget, remember
from pyramid.tweens import INGRESS
from zope.interface.verify import verifyClass

from loginsite.session import SessionSecurityPolicy, SessionTooLarge
from loginsite.settings import SessionKey, SessionSettings
from tests.plugins.clock import FakeClock
from tests.plugins.session_keys import SECRET_1

NOW = 1_790_000_000.0


def whoami(request):
    identity = request.identity
    body = "anonymous" if identity is None else f"{identity.sub} {identity.acr}"
    return Response(body)


def sign_in_view(request):
    headers = remember(request, "user-1", email="a@example.gov", acr="urn:acr.login.gov:verified")
    return Response("signed in", headers=headers)


def sign_out_view(request):
    request.identity  # noqa: B018 - plans a renewal that forget() must cancel
    return Response("signed out", headers=forget(request))


def secret_view(request):
    return Response("the secret")


def host_app(policy: SessionSecurityPolicy, *, tween: bool = False) -> webtest.TestApp:
    with Configurator() as config:
        config.set_security_policy(policy)
        if tween:  # as includeme() wires it
            config.add_tween(
                "loginsite.session.response_plan.session_response_tween_factory", under=INGRESS
            )
        config.add_route("whoami", "/whoami")
        config.add_view(whoami, route_name="whoami")
        config.add_route("sign_in", "/sign-in")
        config.add_view(sign_in_view, route_name="sign_in")
        config.add_route("sign_out", "/sign-out")
        config.add_view(sign_out_view, route_name="sign_out")
        config.add_route("secret", "/secret")
        config.add_view(secret_view, route_name="secret", permission="view")
    return webtest.TestApp(config.make_wsgi_app())


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def session_settings() -> SessionSettings:
    return SessionSettings(
        keys=(
            SessionKey("k2", secrets.token_bytes(32)),
            SessionKey("k1", secrets.token_bytes(32), verify_only=True),
        ),
        idle_timeout=900,
        max_age=43200,
        cookie_name="sess",
        secure=False,
    )


@pytest.fixture(params=["response callback", "session tween"])
def wiring(request: pytest.FixtureRequest) -> str:
    """Every rule holds both ways a response gets what it owes the session."""
    return request.param


@pytest.fixture
def policy(
    session_settings: SessionSettings, clock: FakeClock, wiring: str
) -> SessionSecurityPolicy:
    return SessionSecurityPolicy(
        session_settings, None, clock=clock, response_tween=wiring == "session tween"
    )


@pytest.fixture
def app(policy: SessionSecurityPolicy, wiring: str) -> webtest.TestApp:
    return host_app(policy, tween=wiring == "session tween")


def set_cookies(response) -> list[str]:
    return response.headers.getall("Set-Cookie")


def test_implements_isecuritypolicy() -> None:
    assert verifyClass(ISecurityPolicy, SessionSecurityPolicy)


def test_anonymous_without_a_cookie(app: webtest.TestApp) -> None:
    response = app.get("/whoami")
    assert response.text == "anonymous"
    assert set_cookies(response) == []
    assert "Cookie" in response.headers["Vary"]


def test_sign_in_sets_a_well_formed_cookie(app: webtest.TestApp) -> None:
    response = app.get("/sign-in")
    (cookie,) = set_cookies(response)
    assert cookie.startswith("sess=")
    attributes = [a.strip() for a in cookie.split(";")[1:]]
    assert "HttpOnly" in attributes
    assert "SameSite=Lax" in attributes
    assert "Path=/" in attributes
    assert "Max-Age=43200" in attributes  # until the deadline; the token inside expires first
    assert not any(a.lower().startswith("domain") for a in attributes)
    assert "Secure" not in attributes
    assert app.get("/whoami").text == "user-1 urn:acr.login.gov:verified"


def test_secure_mode_uses_host_prefix_and_secure(session_settings, clock) -> None:
    settings = SessionSettings(**{**session_settings.__dict__, "secure": True})
    app = host_app(SessionSecurityPolicy(settings, None, clock=clock))
    (cookie,) = set_cookies(app.get("/sign-in"))
    assert cookie.startswith("__Host-sess=")
    assert "; Secure" in cookie
    assert "Path=/" in cookie


def test_sign_in_never_reuses_a_cookie_that_existed_before(app: webtest.TestApp) -> None:
    app.get("/sign-in")
    first = app.cookies["sess"]
    app.get("/sign-in")
    second = app.cookies["sess"]
    assert first != second


def test_permissions_follow_the_acl(app: webtest.TestApp) -> None:
    app.get("/secret", status=403)


def test_steady_state_request_sets_no_cookie(app: webtest.TestApp, clock: FakeClock) -> None:
    app.get("/sign-in")
    clock.now += 10
    response = app.get("/whoami")
    assert response.text.startswith("user-1")
    assert set_cookies(response) == []


def test_renewal_after_a_quarter_of_the_idle_window(app: webtest.TestApp, clock: FakeClock) -> None:
    app.get("/sign-in")
    clock.now += 300
    response = app.get("/whoami")
    (cookie,) = set_cookies(response)
    assert "Max-Age=42900" in cookie
    clock.now += 800  # beyond the first token's idle window, inside the renewed one
    assert app.get("/whoami").text.startswith("user-1")


def test_idle_timeout_makes_the_request_anonymous_and_clears_the_cookie(
    app: webtest.TestApp, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    app.get("/sign-in")
    token = app.cookies["sess"]
    clock.now += 900
    with caplog.at_level(logging.INFO, logger="loginsite"):
        response = app.get("/whoami")
    assert response.text == "anonymous"
    (cookie,) = set_cookies(response)
    assert cookie.startswith("sess=;")
    assert "Max-Age=0" in cookie
    assert "idle timeout" in caplog.text
    assert token not in caplog.text


def test_absolute_deadline_stops_renewal(app: webtest.TestApp, clock: FakeClock) -> None:
    app.get("/sign-in")
    for _ in range(100):
        clock.now += 800
        if app.get("/whoami").text == "anonymous":
            break
    assert clock.now - NOW <= 43200 + 800
    assert clock.now - NOW >= 43200


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "a.b.c",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.",
        "x" * 5000,
        "\u00e9t\u00e9",
    ],
)
def test_bad_cookies_are_anonymous_and_cleared(app: webtest.TestApp, value: str) -> None:
    app.set_cookie("sess", value)
    response = app.get("/whoami")
    assert response.status_int == 200
    assert response.text == "anonymous"
    (cookie,) = set_cookies(response)
    assert cookie.startswith("sess=;")


def test_forget_clears_the_cookie_and_cancels_a_planned_renewal(
    app: webtest.TestApp, clock: FakeClock
) -> None:
    app.get("/sign-in")
    clock.now += 600  # a renewal is due on this request
    response = app.get("/sign-out")
    (cookie,) = set_cookies(response)
    assert cookie.startswith("sess=;")
    assert app.get("/whoami").text == "anonymous"


def test_rotation_reissues_an_old_key_token_under_the_current_key(
    session_settings: SessionSettings, clock: FakeClock
) -> None:
    old = replace(session_settings.keys[1], verify_only=False)  # where it still signs
    old_only = replace(session_settings, keys=(old,))
    old_app = host_app(SessionSecurityPolicy(old_only, None, clock=clock))
    old_app.get("/sign-in")
    app = host_app(SessionSecurityPolicy(session_settings, None, clock=clock))
    app.set_cookie("sess", old_app.cookies["sess"])
    response = app.get("/whoami")
    assert response.text.startswith("user-1")
    (cookie,) = set_cookies(response)
    import jwt

    assert jwt.get_unverified_header(cookie.split(";")[0].split("=", 1)[1])["kid"] == "k2"


def test_revocation_store_refusal_clears_the_cookie(
    session_settings: SessionSettings, clock: FakeClock
) -> None:
    class Revoked:
        def is_revoked(self, session_id: str, sub: str, signed_in_at: int) -> bool:
            return True

    app = host_app(SessionSecurityPolicy(session_settings, Revoked(), clock=clock))
    app.get("/sign-in")
    response = app.get("/whoami")
    assert response.text == "anonymous"
    assert set_cookies(response)[0].startswith("sess=;")


def test_unavailable_revocation_list_is_anonymous_but_keeps_the_cookie(
    session_settings: SessionSettings, clock: FakeClock
) -> None:
    class Broken:
        def is_revoked(self, session_id: str, sub: str, signed_in_at: int) -> bool:
            raise ConnectionError("redis is down")

    app = host_app(SessionSecurityPolicy(session_settings, Broken(), clock=clock))
    app.get("/sign-in")
    response = app.get("/whoami")
    assert response.text == "anonymous"
    assert set_cookies(response) == []


def test_refuses_to_emit_a_cookie_over_4096_bytes(policy: SessionSecurityPolicy) -> None:
    from pyramid.testing import DummyRequest

    with pytest.raises(SessionTooLarge, match="4096"):
        policy.remember(DummyRequest(), "user-1", email="a" * 4000 + "@example.gov")


def test_a_renewal_too_large_for_a_cookie_ends_the_session_without_an_error(
    app: webtest.TestApp,
    session_settings: SessionSettings,
    clock: FakeClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A token the app did not mint (raw UTF-8 claims, signed with its key) that would grow past
    the cookie limit when re-encoded: anonymous and cleared, never a raise in request.identity."""
    import json

    import jwt

    now = int(clock())
    claims = {
        "iss": "ls", "aud": "ls", "sub": "user-1", "iat": now, "exp": now + 900,
        "jti": "j" * 22, "sit": now, "dl": now + 43200, "acr": "a", "email": "\u00e9" * 1200,
    }  # fmt: skip
    key = session_settings.keys[0]
    payload = json.dumps(claims, ensure_ascii=False).encode()
    value = jwt.api_jws.encode(
        payload, key.secret, algorithm="HS256", headers={"typ": "ls+jwt", "kid": key.kid}
    )
    app.set_cookie("sess", value)
    assert app.get("/whoami").text == "user-1 urn:acr.login.gov:auth-only"
    clock.now += 300  # a renewal is due
    with caplog.at_level(logging.INFO, logger="loginsite"):
        response = app.get("/whoami")
    assert response.text == "anonymous"
    (cookie,) = set_cookies(response)
    assert cookie.startswith("sess=;")
    assert "renewal too large" in caplog.text


def included_app() -> webtest.TestApp:
    """Another app that includes the policy with nothing but session settings."""
    settings = {
        "loginsite.session.keys": f"k1:{SECRET_1}",
        "loginsite.session.secure": "false",
    }
    with Configurator(settings=settings) as config:
        config.include("loginsite.session")
        config.add_route("whoami", "/whoami")
        config.add_view(whoami, route_name="whoami")
        config.add_route("sign_in", "/sign-in")
        config.add_view(sign_in_view, route_name="sign_in")
    return webtest.TestApp(config.make_wsgi_app())


def test_include_in_another_app_with_only_session_settings() -> None:
    app = included_app()
    app.get("/sign-in")
    assert app.get("/whoami").text == "user-1 urn:acr.login.gov:verified"


def test_a_session_consulted_after_the_tween_still_settles_the_response(
    session_settings: SessionSettings, clock: FakeClock
) -> None:
    """A response callback that looks at the identity runs after every tween."""
    policy = SessionSecurityPolicy(session_settings, None, clock=clock, response_tween=True)

    def late_view(request):
        request.add_response_callback(lambda req, response: req.identity)
        return Response("late")

    with Configurator() as config:
        config.set_security_policy(policy)
        config.add_tween(
            "loginsite.session.response_plan.session_response_tween_factory", under=INGRESS
        )
        config.add_route("late", "/late")
        config.add_view(late_view, route_name="late")
    app = webtest.TestApp(config.make_wsgi_app())
    app.set_cookie("sess", "garbage")
    response = app.get("/late")
    assert response.headers["Vary"] == "Cookie"
    assert any(c.startswith("sess=;") for c in set_cookies(response))


def test_include_installs_the_session_tween() -> None:
    app = included_app()
    app.set_cookie("loginsite", "garbage")
    response = app.get("/whoami")
    assert response.text == "anonymous"
    assert response.headers["Vary"] == "Cookie"
    assert response.headers.getall("Set-Cookie")[0].startswith("loginsite=;")
    # One Set-Cookie and one Vary: the tween settled it, no callback did it again.
    assert len(response.headers.getall("Set-Cookie")) == 1
    assert response.headers.getall("Vary") == ["Cookie"]


def test_loginsite_permissions_are_granted_by_the_policy_in_any_context(
    testapp: Any, sign_in: Any
) -> None:
    """``loginsite.signed_in`` and ``loginsite.verified`` need no ACL on the context."""
    from pyramid.request import Request, apply_request_extensions

    from loginsite.auth import SIGNED_IN, VERIFIED

    policy = testapp.app.registry.getUtility(ISecurityPolicy)

    def permits(permission: str, cookie: str | None) -> bool:
        request = Request.blank("/", base_url="http://localhost:6543")
        request.registry = testapp.app.registry
        apply_request_extensions(request)
        if cookie is not None:
            request.headers["Cookie"] = f"{policy.cookie_name}={cookie}"
        return bool(policy.permits(request, object(), permission))

    basic = sign_in(acr="urn:acr.login.gov:auth-only")
    verified = sign_in(acr="urn:acr.login.gov:verified")
    assert not permits(SIGNED_IN, None)
    assert not permits(VERIFIED, None)
    assert permits(SIGNED_IN, basic)
    assert not permits(VERIFIED, basic)
    assert permits(SIGNED_IN, verified)
    assert permits(VERIFIED, verified)
    assert not permits("view", verified)  # any other permission is the context's ACL's
