"""Pages a visitor may not open: sign in, step up, or a 403 page (loginsite.auth.forbidden)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import webtest

from loginsite.settings import ACR_VERIFIED


def test_anonymous_is_sent_to_sign_in_and_back(testapp: webtest.TestApp) -> None:
    response = testapp.get("/account/", status=303)
    assert response.location == "http://localhost:6543/auth/login?next=%2Faccount%2F"


def test_anonymous_on_a_verified_page_signs_in_at_that_level(testapp: webtest.TestApp) -> None:
    response = testapp.get("/account/verified", status=303)
    assert response.location == (
        "http://localhost:6543/auth/login?next=%2Faccount%2Fverified&level=verified"
    )


def test_a_verified_session_is_not_stepped_up(
    testapp: webtest.TestApp, sign_in: Callable[..., str]
) -> None:
    sign_in(acr=ACR_VERIFIED)
    assert testapp.get("/account/verified").status_int == 200


def test_an_unverifiable_session_is_a_503_not_a_sign_in_loop(
    testapp: webtest.TestApp, monkeypatch: Any
) -> None:
    """(The real cause, a revocation list that cannot be synced, is in test_revocation_app.)"""
    from loginsite.auth import forbidden

    monkeypatch.setattr(forbidden, "session_unverifiable", lambda request: True)
    response = testapp.get("/account", status=503)
    assert "We cannot confirm your session right now" in response.text
    assert response.html.find("main").find("a", class_="usa-button")["href"] == "/"
    form = response.html.find("main").find("form", action="/auth/logout")
    assert form.find("button").text == "Sign out"
    assert form.find("input", attrs={"name": "csrf_token"})["value"]


def test_while_sessions_cannot_be_checked_every_page_offers_sign_out_not_sign_in(
    make_app: Callable[..., Any], redis_server: Any
) -> None:
    """The revocation list is out of reach past max_staleness: signing in again would loop
    back to the 503, so no page invites it, and the sign-out the pages offer works."""
    from loginsite.revocation import get_revocation_store
    from tests.test_revocation_app import signed_in, wait_for

    app = make_app(
        **{
            "loginsite.revocation.store": "redis",
            "loginsite.revocation.redis_url": redis_server.url,
            "loginsite.revocation.redis_timeout": "0.5",
            "loginsite.revocation.max_staleness": "4",
        }
    )
    store = get_revocation_store(app.registry)
    assert store.wait_until_synced(5)
    client, _value = signed_in(app)
    redis_server.stop()
    try:
        assert wait_for(lambda: not store.status().ready)
        for path, status in (("/account", 503), ("/", 200)):
            page = client.get(path, status=status)
            assert page.html.find("a", class_="login-button") is None, path
            assert "Sign in" not in page.html.find("main").get_text(), path
            header = page.html.find("header", class_="usa-header")
            assert header.find("button", string="Sign out") is not None, path
        home = page.html.find("main")
        assert home.find("h1").text == "We cannot confirm your session right now"
        signed_out = page.forms[0].submit(status=303)  # then on to login.gov's sign-out
        assert any(c.startswith("loginsite=;") for c in signed_out.headers.getall("Set-Cookie"))
    finally:
        redis_server.start()
