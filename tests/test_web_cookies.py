"""Cookies the app cannot read never break a page: the header is sanitised before anything
parses it, over real HTTP for the planted-cookie cases."""

from __future__ import annotations

import re

import pytest

from loginsite.web.cookies import sanitized_cookie_header, well_formed_pair
from tests.plugins.raw_http import raw_request

# Cookies a sibling subdomain (or a client) could plant: WebOb unquotes the escapes into bytes
# that are not UTF-8, or the value is not UTF-8 in the first place.
PLANTED = [
    b'x="\\377"',
    "x=\\é".encode(),
    b'x="\\"\\\\"',
    b"x=\xff\xfe",
    b"a" * 2000,
]


@pytest.mark.parametrize(
    ("pair", "ok"),
    [
        ("ls=abc", True),
        (" ls = abc ", True),
        ('ls="abc"', True),
        ("ls=", True),
        ("ls=a=b", True),
        ("ls=\u00c3\u00a9", True),  # é as UTF-8 bytes, as WSGI hands it over
        ("ls=\u00e9", False),  # a lone latin-1 byte: not UTF-8
        ('x="\\377"', False),
        ("x=\\\u00c3\u00a9", False),
        ('x="a"b"', False),
        ("x=a b", False),
        ("x=a,b", False),
        ("x=a\x01", False),
        ("aaaa", False),
        ("=v", False),
        ("a b=v", False),
        ("", False),
    ],
)
def test_well_formed_pair(pair: str, ok: bool) -> None:
    assert well_formed_pair(pair) is ok


def test_sanitising_keeps_the_good_pairs_and_counts_the_dropped() -> None:
    header = 'a=1; x="\\377"; b=2;; junk; c="3"'
    assert sanitized_cookie_header(header) == ('a=1; b=2; c="3"', 2)
    assert sanitized_cookie_header("a=1; b=2") == ("a=1; b=2", 0)


def test_sanitising_is_linear() -> None:
    import time

    header = "a" * 200_000 + "; " + "b=" * 100_000
    started = time.perf_counter()
    assert sanitized_cookie_header(header)[1] == 1
    assert time.perf_counter() - started < 0.5


def cookie_header(*pairs: bytes | str) -> bytes:
    return b"; ".join(p.encode() if isinstance(p, str) else p for p in pairs)


@pytest.mark.parametrize("planted", PLANTED)
def test_a_planted_cookie_does_not_break_signed_in_pages(
    live_site, live_session_cookie: str, planted: bytes
) -> None:
    for path in ("/", "/account", "/no/such/page", "/static/nothing.css", "/auth/logout"):
        response = raw_request(
            live_site(path), headers={"Cookie": cookie_header(planted, live_session_cookie)}
        )
        assert response.status in (200, 404), (path, response.status)
        assert "Signed in as" in response.text, path
        assert response.headers["Content-Security-Policy"], path


@pytest.mark.parametrize("planted", PLANTED)
def test_a_planted_cookie_does_not_stop_a_sign_in(live_site, planted: bytes) -> None:
    response = raw_request(live_site("/auth/login"), headers={"Cookie": planted})
    assert response.status == 303
    assert response.headers["Location"].startswith(live_site("/_devidp/"))


@pytest.mark.parametrize("planted", PLANTED)
def test_a_planted_cookie_does_not_stop_a_sign_out(
    live_site, live_session_cookie: str, planted: bytes
) -> None:
    page = raw_request(live_site("/"), headers={"Cookie": live_session_cookie})
    (csrf_cookie,) = [c.split(";")[0] for c in page.header_values("Set-Cookie")]
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    response = raw_request(
        live_site("/auth/logout"),
        "POST",
        headers={
            "Cookie": cookie_header(planted, live_session_cookie, csrf_cookie),
            "Content-Type": "application/x-www-form-urlencoded",
        },
        body=f"csrf_token={token}".encode(),
    )
    assert response.status == 303
    assert any(c.startswith("loginsite=;") for c in response.header_values("Set-Cookie"))
