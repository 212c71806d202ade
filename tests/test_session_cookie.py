"""The session cookie helper alone: finding the cookie in the header, writing and clearing it."""

from __future__ import annotations

import secrets

import pytest
from pyramid.request import Request

from loginsite.session.cookie import SessionCookieHelper, cookie_value
from loginsite.session.token import InvalidSession, SessionCodec, SessionTooLarge
from loginsite.settings import SessionKey
from tests.plugins.clock import FakeClock

NOW = 1_790_000_000.0


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(NOW)


@pytest.fixture
def helper(clock: FakeClock) -> SessionCookieHelper:
    codec = SessionCodec(
        [SessionKey("k1", secrets.token_bytes(32))], idle_timeout=900, max_age=43200, clock=clock
    )
    return SessionCookieHelper(codec, "sess", secure=False)


def request_with(cookie: str | None) -> Request:
    return Request.blank("/", headers={} if cookie is None else {"Cookie": cookie})


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("ls=abc", "abc"),
        ("other=1; ls=abc; more=2", "abc"),
        ("other=1;ls=abc", "abc"),
        ("  ls=abc  ", "abc"),
        ('ls="abc"', "abc"),
        ("ls=", ""),
        ("xls=1; ls_csrf=2; ls2=3", None),
        ("xls=1; ls=abc", "abc"),
        ("a=ls=1; ls=abc", "abc"),
        ("ls=first; ls=second", "first"),
        ("ls", None),
        (";;; ls=abc;;", "abc"),
        ("xls=" * 2000, None),
    ],
)
def test_cookie_value_finds_exactly_the_named_cookie(
    header: str | None, expected: str | None
) -> None:
    environ = {} if header is None else {"HTTP_COOKIE": header}
    assert cookie_value(environ, "ls") == expected


def test_remember_then_identify_round_trips(helper: SessionCookieHelper) -> None:
    (header,), token = helper.remember(request_with(None), "user-1", email=None, acr="a")
    name, value = header
    assert name == "Set-Cookie"
    pair, *attributes = value.split("; ")
    # Kept until the deadline, so a tab idle past the timeout can still sign out.
    assert attributes == ["Max-Age=43200", "Path=/", "HttpOnly", "SameSite=Lax"]
    assert helper.identify(request_with("other=1; " + pair)) == token


def test_identify_without_the_cookie_is_none(helper: SessionCookieHelper) -> None:
    assert helper.identify(request_with(None)) is None
    assert helper.identify(request_with("sessx=1; xsess=2")) is None


def test_identify_raises_for_a_cookie_that_is_not_a_session(helper: SessionCookieHelper) -> None:
    with pytest.raises(InvalidSession):
        helper.identify(request_with("sess=garbage"))


def test_signed_names_an_idle_expired_session_that_identify_refuses(
    helper: SessionCookieHelper, clock: FakeClock
) -> None:
    ((_, value),), token = helper.remember(request_with(None), "user-1", email=None, acr="a")
    request = request_with(value.split(";")[0])
    clock.advance(901)
    with pytest.raises(InvalidSession, match="idle"):
        helper.identify(request)
    assert helper.signed(request) == token
    assert helper.signed(request_with(None)) is None
    with pytest.raises(InvalidSession):
        helper.signed(request_with("sess=garbage"))


def test_secure_adds_the_secure_attribute(clock: FakeClock) -> None:
    codec = SessionCodec([SessionKey("k1", b"k" * 32)], idle_timeout=900, max_age=900, clock=clock)
    helper = SessionCookieHelper(codec, "__Host-sess", secure=True)
    (header,), _ = helper.remember(request_with(None), "user-1", email=None, acr="a")
    assert header[1].startswith("__Host-sess=")
    assert header[1].endswith("; Secure")
    assert helper.forget(request_with(None))[0][1].endswith("; Secure")


def test_reissue_when_due_slides_the_idle_window(
    helper: SessionCookieHelper, clock: FakeClock
) -> None:
    _, token = helper.remember(request_with(None), "user-1", email=None, acr="a")
    assert helper.reissue(token) is None
    clock.advance(300)
    header, renewed = helper.reissue(token)
    assert renewed.expires_at == token.expires_at + 300
    assert "Max-Age=42900" in header[1]  # the cookie still ends at the deadline


def test_forget_expires_the_cookie(helper: SessionCookieHelper) -> None:
    ((name, value),) = helper.forget(request_with("sess=x"))
    assert name == "Set-Cookie"
    assert value.startswith("sess=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Path=/")


def test_refuses_to_write_a_cookie_browsers_would_drop(helper: SessionCookieHelper) -> None:
    with pytest.raises(SessionTooLarge, match="4096"):
        helper.remember(request_with(None), "user-1", email="a" * 4000, acr="a")


def test_a_cookie_name_that_leaves_no_room_for_the_token_is_refused(
    helper: SessionCookieHelper,
) -> None:
    with pytest.raises(ValueError, match="name is too long"):
        SessionCookieHelper(helper.codec, "n" * 400, secure=False)
