"""``config.include("loginsite.auth")`` in a host app of its own: URL dispatch, its own layout."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import webtest
from pyramid.config import Configurator
from pyramid.interfaces import ISecurityPolicy
from pyramid.response import Response

from loginsite.auth import SIGNED_IN, VERIFIED

ACR_AUTH_ONLY = "urn:acr.login.gov:auth-only"
ACR_VERIFIED = "urn:acr.login.gov:verified"


def reports(request: Any) -> Response:
    return Response(f"reports of {request.identity.email}")


def benefits(request: Any) -> Response:
    return Response("benefits")


def public(request: Any) -> Response:
    return Response("anyone")


@pytest.fixture
def make_host(settings: dict[str, str]) -> Callable[..., webtest.TestApp]:
    """A URL-dispatch app that knows nothing of loginsite but the one include."""

    def make(*extra: Callable[[Configurator], None], **overrides: str) -> webtest.TestApp:
        with Configurator(settings={**settings, **overrides}) as config:
            config.include("loginsite.auth")
            for step in extra:
                step(config)
            config.add_route("home", "/")
            config.add_view(public, route_name="home")
            config.add_route("reports", "/reports")
            config.add_view(reports, route_name="reports", permission=SIGNED_IN)
            config.add_route("benefits", "/benefits")
            config.add_view(benefits, route_name="benefits", permission=VERIFIED)
            app = config.make_wsgi_app()
        return webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost:6543"})

    return make


def sign_in(host: webtest.TestApp, acr: str = ACR_AUTH_ONLY) -> None:
    policy = host.app.registry.getUtility(ISecurityPolicy)
    value, _ = policy.codec.mint("6f1c1b52-8a6e-4d0b-9a53-2b6f7d3c2e11", email="a@x.gov", acr=acr)
    host.set_cookie(policy.cookie_name, value)


def test_an_anonymous_visitor_is_sent_to_sign_in_and_back(make_host: Any) -> None:
    host = make_host()
    assert host.get("/").text == "anyone"
    location = host.get("/reports", status=303).location
    assert location == "http://localhost:6543/auth/login?next=%2Freports"


def test_a_signed_in_user_opens_the_page_and_is_stepped_up_for_verified_ones(
    make_host: Any,
) -> None:
    host = make_host()
    sign_in(host)
    assert host.get("/reports").text == "reports of a@x.gov"
    location = host.get("/benefits", status=303).location
    assert location == "http://localhost:6543/auth/login?next=%2Fbenefits&level=verified"
    sign_in(host, ACR_VERIFIED)
    assert host.get("/benefits").text == "benefits"


def test_the_sign_in_pages_render_in_the_plain_layout_by_default(make_host: Any) -> None:
    host = make_host()
    page = host.get("/auth/logout")
    assert page.html.find("title").text == "Sign out"
    assert page.html.find("main").find("h1").text == "Sign out"
    assert "You are not signed in." in page.text
    assert page.html.find("main").find("a")["href"] == "/"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert page.headers["Cache-Control"] == "no-store"


def test_the_sign_in_pages_render_in_the_host_layout(make_host: Any) -> None:
    host = make_host(**{"loginsite.auth.layout": "tests:hostapp_templates/layout.jinja2"})
    page = host.get("/auth/signed-out")
    assert page.html.find("header").text.strip() == "Host app header"
    assert page.html.find("title").text == "No sign-out to confirm | Host app"
    assert page.html.find("main").find("h1").text == "No sign-out to confirm"
    button = page.html.find("a", class_="login-button")
    assert button["href"] == "/auth/login"
    logo = button.find("img")["src"]  # loginsite's files below the prefix, not the host's /static
    assert logo == "/auth/static/login-gov/logo-white.svg"
    assert host.get(logo).content_type == "image/svg+xml"


def test_the_sign_in_pages_follow_the_host_apps_language(make_host: Any) -> None:
    """The host's own negotiation (here Pyramid's default: ``_LOCALE_``, then
    ``pyramid.default_locale_name``) picks the language; loginsite's catalogs come with the
    include, in newstyle gettext whatever the host's ``jinja2.*`` settings say."""
    spanish = make_host(**{"pyramid.default_locale_name": "es", "jinja2.newstyle": "false"})
    page = spanish.get("/auth/logout")
    assert page.html.find("main").find("h1").text == "Cerrar sesión"
    assert "Usted no ha iniciado sesión." in page.text
    assert page.html.find("html")["lang"] == "es"
    english = make_host()
    assert english.get("/auth/logout?_LOCALE_=es").html.find("h1").text == "Cerrar sesión"
    assert english.get("/auth/logout").html.find("h1").text == "Sign out"


def test_sign_out_is_csrf_checked_in_a_host_app_without_a_csrf_default(make_host: Any) -> None:
    host = make_host()
    sign_in(host)
    refused = host.post("/auth/logout", {"csrf_token": "forged"}, status=400)
    assert "This form has expired" in refused.text
    assert refused.headers["Referrer-Policy"] == "no-referrer"
    assert host.get("/reports").status_int == 200  # still signed in


def test_a_host_app_under_its_own_prefix(make_host: Any) -> None:
    host = make_host(**{"loginsite.auth.prefix": "/login-gov"})
    location = host.get("/reports", status=303).location
    assert location == "http://localhost:6543/login-gov/login?next=%2Freports"
    assert host.get("/auth/logout", status=404)
    assert host.get("/login-gov/logout").status_int == 200


def test_an_include_route_prefix_that_says_the_same_as_the_setting_is_accepted(
    settings: dict[str, str],
) -> None:
    with Configurator(settings={**settings, "loginsite.auth.prefix": "/login-gov"}) as config:
        config.include("loginsite.auth", route_prefix="/login-gov")
        app = config.make_wsgi_app()
    host = webtest.TestApp(app, extra_environ={"HTTP_HOST": "localhost:6543"})
    assert host.get("/login-gov/logout").status_int == 200
    assert host.get("/login-gov/login-gov/logout", status=404)


def test_a_host_app_replaces_a_whole_page_with_override_asset(make_host: Any) -> None:
    def override(config: Configurator) -> None:
        config.override_asset(
            to_override="loginsite:templates/signed_out.html",
            override_with="tests:hostapp_templates/signed_out.html",
        )

    host = make_host(override, **{"loginsite.auth.layout": "tests:hostapp_templates/layout.jinja2"})
    page = host.get("/auth/signed-out")
    assert page.html.find("h1").text == "The host app's own signed-out page"
    assert page.html.find("title").text == "Signed out of the host app | Host app"
    assert page.html.find("header").text.strip() == "Host app header"


def test_a_host_app_may_add_the_account_event_receiver(make_host: Any) -> None:
    host = make_host(lambda config: config.include("loginsite.security_events"))
    refused = host.post(
        "/api/security-events",
        "not.a.token",
        headers={"Content-Type": "application/secevent+jwt"},
        status=400,
    )
    assert refused.json["err"] == "invalid_request"


def test_a_host_app_may_add_loginsites_request_screening(make_host: Any) -> None:
    """The tween the README offers as optional works outside loginsite's own app."""
    screening = "loginsite.web.screening.request_screening_tween_factory"
    host = make_host(lambda config: config.add_tween(screening))
    refused = host.request("/", method="TRACE", status=405)
    assert refused.headers["Allow"] == "GET, HEAD, POST"
    assert "This kind of request is not supported" in refused.text
    assert host.get("/").text == "anyone"
