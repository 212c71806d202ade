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
