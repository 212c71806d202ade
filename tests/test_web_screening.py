"""Requests no view should see are refused first, over real HTTP: oversized headers (431),
unknown methods (405), unreadable form bodies (400); each with a page and one log line."""

from __future__ import annotations

import logging

import pytest

from loginsite.web.screening import MAX_HEADER_BYTES, MAX_HEADERS_BYTES, oversized_header
from tests.plugins.raw_http import raw_request

# What one request may cost on a loaded 2-core machine; WebOb's parser took seconds.
FAST = 0.5


def assert_a_page_with_the_security_headers(response) -> None:
    assert response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Traceback" not in response.text


JUNK = {
    "one long word": lambda room: "a" * room,  # WebOb's worst case: no '=' anywhere
    "many cookies": lambda room: ("c=v; " * room)[:room],
    "backslash escapes": lambda room: ('x="' + "\\377" * room)[: room - 1] + '"',
}


@pytest.mark.parametrize("junk", JUNK)
def test_a_maximal_cookie_header_costs_milliseconds_and_keeps_the_session(
    live_site, live_session_cookie: str, junk: str
) -> None:
    room = MAX_HEADER_BYTES - len(live_session_cookie) - 2
    cookie = f"{JUNK[junk](room)}; {live_session_cookie}"
    assert len(cookie) == MAX_HEADER_BYTES
    raw_request(live_site("/account"), headers={"Cookie": cookie})  # warm up
    response = raw_request(live_site("/account"), headers={"Cookie": cookie})
    assert response.status == 200
    assert "Signed in as" in response.text
    assert response.seconds < FAST, response.seconds


@pytest.mark.parametrize("size", [MAX_HEADER_BYTES + 1, 32_000, 200_000])
def test_an_oversized_cookie_header_is_a_431_page_at_once(
    live_site, live_session_cookie: str, size: int, caplog: pytest.LogCaptureFixture
) -> None:
    cookie = live_session_cookie + "; " + "a" * size
    with caplog.at_level(logging.INFO, logger="loginsite"):
        response = raw_request(live_site("/account"), headers={"Cookie": cookie})
    assert response.status == 431
    assert "Your browser sent too much data" in response.text
    assert "cookies in your browser" in response.text
    assert response.header_values("Set-Cookie") == []  # not even a CSRF cookie
    assert "Signed in as" not in response.text  # rendered without reading the cookies
    assert_a_page_with_the_security_headers(response)
    assert response.seconds < FAST, response.seconds
    (line,) = [r.getMessage() for r in caplog.records if "request.refused" in r.getMessage()]
    assert "status=431" in line
    assert "Cookie" in line


def test_any_oversized_header_and_too_many_headers_are_a_431(live_site) -> None:
    one = raw_request(live_site("/"), headers={"X-Filler": "b" * (MAX_HEADER_BYTES + 1)})
    assert one.status == 431
    count = MAX_HEADERS_BYTES // 4000 + 1
    many = raw_request(live_site("/"), headers={f"X-Filler-{i}": "b" * 4000 for i in range(count)})
    assert many.status == 431
    fine = raw_request(live_site("/"), headers={"X-Filler": "b" * 4000})
    assert fine.status == 200


def test_oversized_header_names_the_header() -> None:
    assert oversized_header({"HTTP_USER_AGENT": "u" * (MAX_HEADER_BYTES + 1)}) == (
        "User-Agent",
        MAX_HEADER_BYTES + 1,
    )
    assert oversized_header({"HTTP_COOKIE": "c" * MAX_HEADER_BYTES}) is None
    assert oversized_header({"PATH_INFO": "p" * 100_000}) is None  # not a header


@pytest.mark.parametrize("method", ["TRACE", "PUT", "DELETE", "PATCH", "OPTIONS", "FOO"])
@pytest.mark.parametrize("path", ["/", "/account", "/auth/logout", "/static/site.css"])
def test_unknown_methods_are_a_405_with_allow(
    live_site, live_session_cookie: str, method: str, path: str
) -> None:
    response = raw_request(live_site(path), method, headers={"Cookie": live_session_cookie})
    assert response.status == 405
    assert response.headers["Allow"] == "GET, HEAD, POST"
    assert "This kind of request is not supported" in response.text
    assert_a_page_with_the_security_headers(response)


def test_the_allowed_methods_still_answer(live_site, live_session_cookie: str) -> None:
    assert raw_request(live_site("/"), "HEAD").status == 200
    assert (
        raw_request(live_site("/account"), "GET", headers={"Cookie": live_session_cookie}).status
        == 200
    )
    # POST reaches the views (and their CSRF check), not the screening.
    assert raw_request(live_site("/auth/logout"), "POST", body=b"").status == 400


def test_trace_does_not_echo_the_request(live_site, live_session_cookie: str) -> None:
    response = raw_request(live_site("/"), "TRACE", headers={"Cookie": live_session_cookie})
    assert response.status == 405
    assert live_session_cookie not in response.text


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data",
        "multipart/form-data; boundary=",
        "application/x-www-form-urlencoded; charset=bogus",
        "application/x-www-form-urlencoded; charset=utf-16",
    ],
)
@pytest.mark.parametrize(
    "path", ["/auth/logout", "/", "/static/site.css", "/_devidp/openid_connect/token"]
)
def test_unreadable_form_bodies_are_a_400_with_one_log_line(
    live_site, content_type: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        response = raw_request(
            live_site(path),
            "POST",
            headers={"Content-Type": content_type},
            body=b"csrf_token=x&a=1",
        )
    assert response.status == 400
    assert "We could not read that form" in response.text
    assert_a_page_with_the_security_headers(response)
    refusals = [r for r in caplog.records if "request.refused" in r.getMessage()]
    assert len(refusals) == 1
    assert "unreadable form" in refusals[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
