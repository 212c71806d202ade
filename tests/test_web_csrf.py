"""The CSRF storage policy reads its cookie with the app's own reader, never WebOb's parser."""

from __future__ import annotations

from pyramid.request import Request
from pyramid.response import Response

from loginsite.web.csrf import AppCookieCSRFStoragePolicy


def policy() -> AppCookieCSRFStoragePolicy:
    return AppCookieCSRFStoragePolicy(cookie_name="csrf", httponly=True, path="/")


def test_the_token_is_the_cookie_even_beside_cookies_webob_cannot_parse() -> None:
    request = Request.blank("/", headers={"Cookie": 'x="\\377"; csrf=abc123; ' + "a" * 8000})
    assert policy().get_csrf_token(request) == "abc123"
    assert policy().check_csrf_token(request, "abc123")
    assert not policy().check_csrf_token(request, "abc124")
    assert not request.response_callbacks  # no new cookie


def test_without_the_cookie_a_new_token_is_set_once_and_kept_for_the_request() -> None:
    request = Request.blank("/")
    csrf = policy()
    token = csrf.get_csrf_token(request)
    assert len(token) == 32
    assert csrf.get_csrf_token(request) == token
    assert csrf.check_csrf_token(request, token)
    assert len(request.response_callbacks) == 1
    response = Response()
    request._process_response_callbacks(response)
    (cookie,) = response.headers.getall("Set-Cookie")
    assert cookie.startswith(f"csrf={token};")
    assert "HttpOnly" in cookie


def test_new_csrf_token_replaces_the_one_from_the_cookie() -> None:
    request = Request.blank("/", headers={"Cookie": "csrf=old"})
    csrf = policy()
    new = csrf.new_csrf_token(request)
    assert new != "old"
    assert csrf.get_csrf_token(request) == new
