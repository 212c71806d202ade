"""The language switch: only offered languages, only same-site paths back, a lasting cookie."""

from __future__ import annotations

import logging
from http.cookies import SimpleCookie
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import webtest
from pyramid import testing

from loginsite.i18n.switch import COOKIE_MAX_AGE, return_path
from loginsite.resources import Account, Root

PUBLIC_URL = "http://localhost:6543"


def set_cookie(response: webtest.TestResponse) -> SimpleCookie:
    (header,) = response.headers.getall("Set-Cookie")
    cookie: SimpleCookie = SimpleCookie()
    cookie.load(header)
    return cookie


def test_switching_sets_the_cookie_and_goes_back(testapp: webtest.TestApp) -> None:
    response = testapp.get("/language?lang=es&next=%2Faccount%2Fverified%3Fx%3D1", status=303)
    assert response.location == PUBLIC_URL + "/account/verified?x=1"
    morsel = set_cookie(response)["lang"]
    assert morsel.value == "es"
    assert morsel["path"] == "/"
    assert morsel["httponly"]
    assert morsel["samesite"] == "Lax"
    assert int(morsel["max-age"]) == COOKIE_MAX_AGE
    # The next page is in Spanish, whatever the browser asks for.
    page = testapp.get("/nowhere", headers={"Accept-Language": "en"}, status=404)
    assert "No se encontró la página" in page.text
    testapp.get("/language?lang=en&next=/", status=303)
    page = testapp.get("/nowhere", headers={"Accept-Language": "es"}, status=404)
    assert "Page not found" in page.text


def test_a_secure_site_sets_a_host_prefixed_secure_cookie(make_app: Any) -> None:
    app = webtest.TestApp(
        make_app(**{"loginsite.session.secure": "true", "loginsite.public_url": "https://x.test"}),
        extra_environ={"wsgi.url_scheme": "https", "HTTP_HOST": "x.test"},
    )
    response = app.get("/language?lang=es", status=303)
    morsel = set_cookie(response)["__Host-lang"]
    assert morsel["secure"]
    assert morsel["path"] == "/"
    assert not morsel["domain"]
    assert response.location == "https://x.test/"


@pytest.mark.parametrize(
    "next_value",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "/%2F%2Fevil.example",
        "\\\\evil.example",
        " //evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        "",
    ],
)
def test_only_same_site_paths_are_gone_back_to(testapp: webtest.TestApp, next_value: str) -> None:
    response = testapp.get("/language", params={"lang": "es", "next": next_value}, status=303)
    assert response.location == PUBLIC_URL + "/"


@pytest.mark.parametrize("query", ["", "lang=", "lang=fr", "lang=ES", "lang=es-MX", "lang=es%00"])
def test_a_language_not_offered_is_a_400_page_and_a_log_line(
    testapp: webtest.TestApp, query: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="loginsite"):
        response = testapp.get(f"/language?{query}&next=/account", status=400)
    assert "This language is not available" in response.text
    assert "Set-Cookie" not in response.headers
    assert any("i18n.language_refused" in r.getMessage() for r in caplog.records)


def test_a_language_the_site_does_not_offer_is_refused(make_app: Any) -> None:
    app = webtest.TestApp(make_app(**{"loginsite.available_languages": "en"}))
    app.get("/language?lang=es", status=400)
    assert app.get("/language?lang=en", status=303).location == PUBLIC_URL + "/"


def test_only_get_switches(testapp: webtest.TestApp) -> None:
    testapp.post("/language", {"lang": "es"}, status=404)  # no POST view (and no CSRF token)


def request_for(
    path: str, context: Any, *, exception: Exception | None = None, route: str | None = None
) -> Any:
    request = testing.DummyRequest(path=path.split("?")[0])
    request.matched_route = SimpleNamespace(name=route) if route else None
    request.path_qs = path
    request.context = context
    request.exception = exception
    request.site_root = Root()
    request.resource_path = lambda resource, *elements, **kw: "/"
    return request


def test_the_switch_comes_back_to_the_page_with_its_query() -> None:
    assert return_path(request_for("/account/verified?tab=1", Account())) == (
        "/account/verified?tab=1"
    )


def test_the_switch_on_a_page_that_cannot_be_shown_twice_goes_home() -> None:
    # The callback and the sign-out receipt are single-use; error pages say why they failed.
    callback = request_for("/auth/callback?code=x&state=y", Root(), route="loginsite.auth.callback")
    assert return_path(callback) == "/"
    receipt = request_for("/auth/signed-out?state=y", Root(), route="loginsite.auth.signed_out")
    assert return_path(receipt) == "/"
    assert return_path(request_for("/nowhere", Root(), exception=ValueError())) == "/"


def test_the_selectors_link_switches_and_comes_back(testapp: webtest.TestApp) -> None:
    from loginsite.i18n.switch import language_switch_path

    request = request_for("/account?tab=2", Account())
    request.registry = testapp.app.registry
    request.resource_path = lambda resource, *elements, query=None: (
        "/" + "/".join(elements) + ("?" + urlencode(query) if query else "")
    )
    url = language_switch_path(request, "es")
    assert url is not None
    assert urlsplit(url).path == "/language"
    assert parse_qs(urlsplit(url).query) == {"lang": ["es"], "next": ["/account?tab=2"]}
    assert language_switch_path(request, "fr") is None  # not offered: no link
