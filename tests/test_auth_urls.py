"""The one sign-in link builder, and the tree-built paths the pages link to."""

from __future__ import annotations

from typing import Any

import pytest
import webtest
from pyramid.request import Request, apply_request_extensions

from tests.plugins.devidp_browser import DevIdpBrowser


@pytest.fixture
def request_(testapp: webtest.TestApp) -> Any:
    """A bare request of the real app that traversal has not touched (no ``request.root``)."""
    request = Request.blank("/", base_url="http://localhost:6543")
    request.registry = testapp.app.registry
    apply_request_extensions(request)
    return request


def test_sign_in_path_without_arguments_is_the_login_view(request_: Any) -> None:
    assert request_.sign_in_path() == "/auth/login"


def test_sign_in_path_carries_the_return_path_and_level_encoded(request_: Any) -> None:
    path = request_.sign_in_path("/account/verified?x=1&y", level="verified")
    assert path == "/auth/login?next=%2Faccount%2Fverified%3Fx%3D1%26y&level=verified"


def test_pages_are_linked_from_the_tree_even_before_traversal(request_: Any) -> None:
    root = request_.site_root
    assert request_.resource_path(root) == "/"
    assert request_.resource_path(root["account"]) == "/account/"
    assert request_.resource_path(root["account"]["verified"]) == "/account/verified/"
    assert request_.sign_out_path() == "/auth/logout"
    assert request_.home_path == "/"


def test_tree_paths_follow_the_mount_point(request_: Any) -> None:
    request_.script_name = "/site"
    assert request_.sign_in_path("/x") == "/site/auth/login?next=%2Fx"


def test_signed_out_page_links_to_sign_in(testapp: webtest.TestApp) -> None:
    response = testapp.get("/auth/signed-out")
    main = response.html.find("main")
    assert main.find("a", class_="login-button")["href"] == "/auth/login"


def test_every_page_link_resolves_to_a_page(testapp: webtest.TestApp, sign_in: Any) -> None:
    """The links the tree builds lead to real pages (not 404s) for a signed-in user."""
    sign_in(acr="urn:acr.login.gov:verified")
    page = testapp.get("/")
    links = {a["href"] for a in page.html.find_all("a") if a["href"].startswith("/")}
    links |= {a["href"] for a in testapp.get("/account/").html.find_all("a")}
    links = {href for href in links if href.startswith("/") and not href.startswith("/static")}
    assert {"/", "/account/", "/account/verified/"} <= links
    for href in links:
        response = testapp.get(href)
        if href.startswith("/language?"):  # the language switch comes back to a page
            response = response.follow()
        assert response.status_int == 200, href
    assert {f["action"] for f in page.html.find_all("form")} == {"/auth/logout"}


def test_a_prefix_moves_every_sign_in_view_and_link(make_app: Any) -> None:
    app = webtest.TestApp(
        make_app(**{"loginsite.auth.prefix": "/account/login-gov"}),
        extra_environ={"HTTP_HOST": "localhost:6543"},
    )
    assert app.get("/auth/login", status=404)
    assert app.get("/auth/signed-out", status=404)
    page = app.get("/account/login-gov/signed-out")
    assert page.html.find("a", class_="login-button")["href"] == "/account/login-gov/login"
    assert app.get("/account/login-gov/logout").html.find("h1").text == "Sign out"
    # A page that needs sign-in sends the visitor to the moved sign-in view.
    location = app.get("/account/", status=303).location
    assert location == "http://localhost:6543/account/login-gov/login?next=%2Faccount%2F"


def test_sign_in_and_out_under_a_prefix_against_the_development_provider(
    make_app: Any, live_server: Any, tmp_path: Any
) -> None:
    """The redirect URIs the provider is given (and checks) follow the prefix, over HTTP."""
    server = live_server()
    app = make_app(
        **{
            "loginsite.public_url": server.url,
            "loginsite.idp.issuer": server.url + "/_devidp/",
            "pyramid.includes": "loginsite.devidp",
            "loginsite.devidp.data_dir": str(tmp_path / "devidp"),
            "loginsite.auth.prefix": "/signin",
        }
    )
    server.start(app)
    browser = DevIdpBrowser(server.url)
    try:
        back = browser.sign_in("/account/", "/signin/login")
        assert browser.path(back.url).startswith("/signin/callback?code=")
        account = browser.follow(back, "/account/")
        assert account.status_code == 200
        assert "alice@example.gov" in account.text
        signed_out = browser.sign_out("/signin/logout", account)
        assert browser.path(signed_out.url).startswith("/signin/signed-out?state=")
        assert "You have signed out" in signed_out.text
        assert browser.get("/account/").status_code == 303
    finally:
        browser.close()


def test_an_include_route_prefix_that_disagrees_with_the_setting_is_refused(
    settings: dict[str, str],
) -> None:
    from pyramid.config import Configurator

    from loginsite.settings import SettingsError

    config = Configurator(settings={**settings, "loginsite.auth.prefix": "/auth"})
    with pytest.raises(SettingsError) as exc:
        config.include("loginsite.auth", route_prefix="/login-gov")
    assert exc.value.setting == "loginsite.auth.prefix"
    assert "set loginsite.auth.prefix = /login-gov" in str(exc.value)
