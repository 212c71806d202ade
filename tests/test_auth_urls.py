"""The one sign-in link builder, and the tree-built paths the pages link to."""

from __future__ import annotations

from typing import Any

import pytest
import webtest
from pyramid.request import Request, apply_request_extensions


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
    assert request_.resource_path(root["auth"], "logout") == "/auth/logout"


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
