"""Every response that may show the session carries ``Cache-Control: no-store``; only static
files may be cached."""

from __future__ import annotations

import pytest

from tests.plugins.raw_http import raw_request


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/static/no-such-file.css", 404),
        ("/static/%ff", 400),
        ("/static/../setup.cfg", 404),
        ("/", 200),
        ("/account", 200),
        ("/no/such/page", 404),
    ],
)
def test_pages_that_show_the_session_are_never_stored(
    live_site, live_session_cookie: str, path: str, status: int
) -> None:
    response = raw_request(live_site(path), headers={"Cookie": live_session_cookie})
    assert response.status == status
    assert "Signed in as" in response.text
    assert response.headers["Cache-Control"] == "no-store"


def test_a_static_file_stays_cacheable_for_a_signed_in_user(
    live_site, live_session_cookie: str
) -> None:
    response = raw_request(live_site("/static/site.css"), headers={"Cookie": live_session_cookie})
    assert response.status == 200
    assert "no-store" not in response.headers["Cache-Control"]
    assert "max-age=3600" in response.headers["Cache-Control"]


def test_an_anonymous_error_under_static_is_not_stored_either(live_site) -> None:
    response = raw_request(live_site("/static/no-such-file.css"))
    assert response.status == 404
    assert response.headers["Cache-Control"] == "no-store"
